"""The request's headers as h11 gets them: the same bytes on the wire as h11's own path,
h11's checks on everything but the mesh's own headers, h11's errors where they were."""

from __future__ import annotations

import h11
import pytest
from h11._headers import normalize_and_validate
from hypothesis import given
from hypothesis import strategies as st

from inmesh.outbound import _wire
from inmesh.outbound._wire import WireHeaders, wire_headers
from inmesh.telemetry._propagation import (
    B3_MULTI,
    B3_SINGLE,
    MeshHeader,
    TraceContext,
    format_headers,
)

TRACE = b"4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = b"00f067aa0ba902b7"
APP = [
    (b"Host", b"bench"),
    (b"Accept", b"*/*"),
    (b"Accept-Encoding", b"gzip, deflate"),
    (b"Connection", b"keep-alive"),
    (b"User-Agent", b"python-httpx/0.28.1"),
    (b"end-user", b"mary"),
    (b"x-request-id", b"6b2f8a0e-5b1c-4b43-9c57-4f8e1a2b3c4d"),
]
EXCHANGE = [
    (b"x-envoy-peer-metadata", b"ChgKDkFQUF9DT05UQUlORVJT" * 16),
    (b"x-envoy-peer-metadata-id", b"x" * 64),
]


def sent(headers: object) -> bytes:
    """The request head h11 writes for ``headers``."""
    conn = h11.Connection(h11.CLIENT)
    return conn.send(h11.Request(method=b"GET", target=b"/a?b=1", headers=headers))  # type: ignore[arg-type]


def trace_headers(
    tracestate: bytes = b"", *, b3: str | None = B3_MULTI
) -> list[tuple[bytes, bytes]]:
    ctx = TraceContext(TRACE, SPAN, False, tracestate, parent_span_id=b"00f067aa0ba902b8")
    return format_headers(ctx, b3=b3)


@pytest.mark.parametrize(
    "headers",
    [
        [*APP, *trace_headers(), *EXCHANGE],
        [*APP, *EXCHANGE, *trace_headers(b"k=v,a=b", b3=B3_SINGLE)],
        [*trace_headers(), *APP],  # the mesh's headers first, the application's after
        [(b"host", b"bench")],
    ],
)
def test_the_same_bytes_on_the_wire_as_h11s_own_path(headers: list[tuple[bytes, bytes]]) -> None:
    wire = wire_headers(headers)
    assert isinstance(wire, WireHeaders)
    assert sent(wire) == sent(list(headers))
    # iterated as h11's own normalised headers are: lower-case names
    assert list(wire) == list(h11.Request(method=b"GET", target=b"/", headers=headers).headers)
    again = wire_headers(headers)  # the application's headers from the memo
    assert sent(again) == sent(list(headers))


def test_only_trace_ids_of_letters_and_digits_are_the_mesh_s_own() -> None:
    kinds = {type(h) for h in trace_headers()}
    assert kinds == {MeshHeader}
    with_state = trace_headers(b"k=v")
    assert [type(h) is MeshHeader for h in with_state] == [True, False, True, True, True, True]
    # a context built by hand with bytes that would break a header: h11 checks them
    bad = format_headers(TraceContext(b"ab\r\nx: y", SPAN, False))
    assert not any(type(h) is MeshHeader for h in bad)
    assert wire_headers([*APP, *bad]) == [*APP, *bad]
    with pytest.raises(h11.LocalProtocolError):
        sent(wire_headers([*APP, *bad]))


def test_a_header_h11_refuses_leaves_the_list_for_h11_to_refuse() -> None:
    headers = [*APP, (b"x-bad", b"a\nb"), *trace_headers()]
    assert wire_headers(headers) is headers
    with pytest.raises(h11.LocalProtocolError, match="Illegal header value"):
        sent(headers)
    spaced = [(b"bad name", b"v"), *trace_headers()]
    assert wire_headers(spaced) is spaced


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (b"Content-Length", b"5"),
        (b"content-length", b"5, 5"),  # h11 collapses equal lengths
        (b"transfer-encoding", b"Chunked"),  # h11 lower-cases the coding
    ],
)
def test_one_body_framing_header_is_checked_as_h11_checks_it(name: bytes, value: bytes) -> None:
    headers = [*APP, (name, value), *trace_headers(), *EXCHANGE]
    for _ in range(2):  # never remembered: checked again on the next request
        wire = wire_headers(headers)
        assert isinstance(wire, WireHeaders)
        assert sent(wire) == sent(list(headers))
        assert wire._full_items == normalize_and_validate(headers)._full_items
        assert (name, value) not in _wire._CHECKED


@pytest.mark.parametrize(
    "framing",
    [
        [(b"Content-Length", b"5"), (b"content-length", b"5")],  # h11 keeps the first
        [(b"Content-Length", b"5"), (b"content-length", b"6")],  # h11 refuses
        [(b"Content-Length", b"5"), (b"transfer-encoding", b"chunked")],
        [(b"transfer-encoding", b"chunked"), (b"Content-Length", b"5")],
        [(b"transfer-encoding", b"chunked"), (b"transfer-encoding", b"chunked")],
    ],
)
def test_two_body_framing_headers_stay_with_h11(framing: list[tuple[bytes, bytes]]) -> None:
    headers = [*APP, *framing, *trace_headers()]
    assert wire_headers(headers) is headers


@pytest.mark.parametrize("value", [b"1a", b"-1", b"5, 6", b"9" * 30])
def test_a_bad_length_is_left_for_h11_to_refuse(value: bytes) -> None:
    headers = [*APP, (b"Content-Length", value), *trace_headers()]
    assert wire_headers(headers) is headers
    with pytest.raises(h11.LocalProtocolError):
        sent(headers)


def test_a_bad_transfer_coding_is_left_for_h11_to_refuse() -> None:
    headers = [*APP, (b"Transfer-Encoding", b"gzip"), *trace_headers()]
    assert wire_headers(headers) is headers
    with pytest.raises(h11.LocalProtocolError):
        sent(headers)


def test_the_application_s_headers_alone_are_checked_once() -> None:
    wire = wire_headers(list(APP))
    assert isinstance(wire, WireHeaders)
    assert sent(wire) == sent(list(APP))
    assert all(h in _wire._CHECKED for h in APP)


def test_credentials_and_long_values_are_checked_but_not_remembered() -> None:
    secret = (b"Authorization", b"Bearer abc")
    api_key = (b"X-Api-Key", b"sk_live_abc=")
    long = (b"x-long", b"v" * 513)
    headers = [(b"host", b"h"), secret, api_key, long, *trace_headers()]
    wire = wire_headers(headers)
    assert isinstance(wire, WireHeaders)
    assert sent(wire) == sent(headers)
    assert secret not in _wire._CHECKED
    assert api_key not in _wire._CHECKED
    assert long not in _wire._CHECKED


@given(
    st.lists(
        st.tuples(
            st.binary(max_size=12)
            | st.sampled_from(
                [b"Host", b"x-b3-traceid", b"X-Id", b"Content-Length", b"transfer-encoding"]
            ),
            st.binary(max_size=20)
            | st.sampled_from([TRACE, b"a-B-9", b"a b", b" x", b"", b"12", b"chunked", b"3, 3"]),
        ),
        max_size=6,
    )
)
def test_any_header_is_normalised_as_h11_does_or_left_to_h11(
    headers: list[tuple[bytes, bytes]],
) -> None:
    headers = [(b"host", b"h"), *headers, *trace_headers()]
    wire = wire_headers(headers)
    try:
        expected = normalize_and_validate(headers)._full_items
    except h11.LocalProtocolError:
        assert wire is headers  # h11 refuses it when httpcore sends it, as before
        return
    if wire is headers:  # h11 accepts it all: only two body framing headers are left to it
        framing = [n for n, _ in headers if n.lower() in (b"content-length", b"transfer-encoding")]
        assert len(framing) >= 2
    else:
        assert isinstance(wire, WireHeaders)
        assert wire._full_items == expected


def test_headers_of_letters_digits_and_dashes_are_normalised_without_h11s_patterns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(headers: object) -> object:
        raise AssertionError("h11's patterns were asked")

    rid = (b"X-Request-Id", b"0b7c0d7e-1f2a-4c3b-9d4e-5f6a7b8c9d0e")
    monkeypatch.setattr(_wire, "normalize_and_validate", refuse)
    wire = wire_headers([(b"host", b"h"), rid, *trace_headers()])
    assert isinstance(wire, WireHeaders)
    monkeypatch.undo()
    assert (
        wire._full_items
        == normalize_and_validate([(b"host", b"h"), rid, *trace_headers()])._full_items
    )


def test_new_headers_between_remembered_ones_keep_their_places() -> None:
    first = [(b"Accept", b"*/*"), (b"X-Request-Id", b"a-1"), (b"User-Agent", b"t/1.0")]
    wire_headers(first)  # remembered
    for rid in (b"b-2", b"c-3"):
        headers = [first[0], (b"X-Request-Id", rid), (b"x-new", b"v 1"), first[2]]
        assert list(wire_headers(headers)) == [
            (b"accept", b"*/*"),
            (b"x-request-id", rid),
            (b"x-new", b"v 1"),
            (b"user-agent", b"t/1.0"),
        ]
