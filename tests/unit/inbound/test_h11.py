"""The listener's h11 connection writes the same bytes as h11's own, validating once."""

from __future__ import annotations

import h11
import pytest

from inmesh.inbound._h11 import MeshH11Connection, connection_class

EXCHANGE = [
    (b"x-envoy-peer-metadata-id", b"sidecar~127.0.0.1~payments-v1.shop~shop.svc.cluster.local"),
    (b"x-envoy-peer-metadata", b"Co4BCgZMQUJFTFMSgwEqgAEKEQoDYXBwEgoaCHBheW1lbnRz" * 8),
]
REQUESTS = {
    "get 1.1": b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
    "head 1.1": b"HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n",
    "get 1.1 close": b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "get 1.0": b"GET /a HTTP/1.0\r\n\r\n",
    "head 1.0": b"HEAD /a HTTP/1.0\r\n\r\n",
}
RESPONSES = {
    "no length": (200, [(b"content-type", b"application/json")]),
    "length": (200, [(b"Content-Type", b"text/plain"), (b"content-length", b"5")]),
    "chunked": (200, [(b"transfer-encoding", b"chunked"), (b"X-Mixed-Case", b"v")]),
    "length and chunked": (200, [(b"content-length", b"5"), (b"transfer-encoding", b"chunked")]),
    "exchange": (200, [(b"content-type", b"application/json"), *EXCHANGE]),
    "exchange with length": (200, [(b"content-length", b"5"), *EXCHANGE]),
    "connection keep-alive": (200, [(b"Connection", b"keep-alive, Upgrade-Foo")]),
    "no content": (204, [*EXCHANGE]),
    "not modified": (304, [(b"etag", b'"x"')]),
    "error": (503, [(b"retry-after", b"1"), (b"content-length", b"5")]),
    "app close": (200, [(b"x-app", b"1"), (b"Connection", b"close")]),
    "host first": (200, [(b"x-app", b"1"), (b"Host", b"h"), (b"content-length", b"5")]),
    "none": (200, []),
}
#: uvicorn appends this to the answer's headers when the request had it
CLOSE = (b"connection", b"close")


def exchange(
    cls: type[h11.Connection],
    request: bytes,
    status: int,
    headers: list,
    pair: tuple[bytes, bytes, bytes] | None = None,
    informational: bool = False,
) -> bytes:
    """The bytes ``cls`` writes for one answer, as uvicorn drives it, then its states
    (``pair``: set on the connection for the answer; ``informational``: a 100 first)."""
    conn = cls(h11.SERVER)
    conn.receive_data(request)
    assert type(conn.next_event()) is h11.Request
    if pair is not None:
        assert isinstance(conn, MeshH11Connection)
        conn.inmesh_pair = pair
    out = b""
    if informational:
        out += conn.send(h11.InformationalResponse(status_code=100, headers=[])) or b""
    out += conn.send(h11.Response(status_code=status, headers=list(headers), reason=b"OK")) or b""
    if conn.our_state is h11.SEND_BODY:
        body = b"" if request.startswith(b"HEAD") or status in (204, 304) else b"hello"
        out += conn.send(h11.Data(data=body)) or b""
        out += conn.send(h11.EndOfMessage()) or b""
    if pair is not None:
        assert conn.inmesh_pair is None  # used once: the next answer carries none
    return out + repr((conn.our_state, conn.their_state)).encode()


def test_the_listener_uses_it_with_this_h11() -> None:
    assert connection_class() is MeshH11Connection


@pytest.mark.parametrize("request_name", sorted(REQUESTS))
@pytest.mark.parametrize("response_name", sorted(RESPONSES))
def test_same_bytes_as_h11(request_name: str, response_name: str) -> None:
    request = REQUESTS[request_name]
    status, headers = RESPONSES[response_name]
    ours = exchange(MeshH11Connection, request, status, headers)
    assert ours == exchange(h11.Connection, request, status, headers)
    assert ours.startswith(b"HTTP/1.1 ")


def test_headers_are_still_validated_once() -> None:
    conn = MeshH11Connection(h11.SERVER)
    conn.receive_data(REQUESTS["get 1.1"])
    conn.next_event()
    with pytest.raises(h11.LocalProtocolError, match="Illegal header value"):
        conn.send(h11.Response(status_code=200, headers=[(b"x-bad", b"a\r\nb")]))


def test_the_chunked_rewrite_validates_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of the class: h11 validates each header of a chunked answer three times,
    this connection once (when the Response is made)."""
    import h11._headers

    calls: list[bytes] = []
    validate = h11._headers.validate

    def counting(regex, data, *args):  # type: ignore[no-untyped-def]
        calls.append(data)
        return validate(regex, data, *args)

    monkeypatch.setattr(h11._headers, "validate", counting)
    value = EXCHANGE[1][1]
    for cls, expected in ((h11.Connection, 3), (MeshH11Connection, 1)):
        calls.clear()
        exchange(cls, REQUESTS["get 1.1"], 200, RESPONSES["exchange"][1])
        assert calls.count(value) == expected


@pytest.mark.parametrize("informational", [False, True])
@pytest.mark.parametrize("request_name", sorted(REQUESTS))
@pytest.mark.parametrize("response_name", sorted(RESPONSES))
def test_the_pair_the_connection_writes_gives_the_bytes_of_the_pair_in_the_headers(
    request_name: str, response_name: str, informational: bool
) -> None:
    """inmesh_pair: the pair, rendered once (pair_item()), is written where MeshMiddleware
    would have put it (after the app's headers, before uvicorn's Connection: close), and
    the answer is byte for byte h11's with the pair among the headers, once."""
    from inmesh.inbound._h11 import pair_item

    item = pair_item(tuple(EXCHANGE))
    assert item is not None and pair_item(tuple(EXCHANGE)) is item  # once per pair
    request = REQUESTS[request_name]
    status, app = RESPONSES[response_name]
    close = [CLOSE] if b"Connection: close" in request else []
    ours = exchange(MeshH11Connection, request, status, [*app, *close], item, informational)
    theirs = exchange(
        h11.Connection, request, status, [*app, *EXCHANGE, *close], None, informational
    )
    assert ours == theirs
    in_app = sum(name == b"x-envoy-peer-metadata-id" for name, _ in app)
    assert ours.count(b"x-envoy-peer-metadata-id: ") == 1 + in_app


def test_the_pair_goes_in_one_answer_only() -> None:
    from inmesh.inbound._h11 import pair_item

    conn = MeshH11Connection(h11.SERVER)
    conn.receive_data(REQUESTS["get 1.1"] * 2)
    conn.next_event()
    conn.next_event()  # the request's end
    conn.inmesh_pair = pair_item(tuple(EXCHANGE))
    first = conn.send(h11.Response(status_code=200, headers=[(b"content-length", b"0")]))
    conn.send(h11.EndOfMessage())
    assert conn.inmesh_pair is None
    conn.start_next_cycle()
    conn.next_event()
    second = conn.send(h11.Response(status_code=200, headers=[(b"content-length", b"0")]))
    assert b"x-envoy-peer-metadata" in first and b"x-envoy-peer-metadata" not in second


def test_the_rendered_pair_is_h11s_lines() -> None:
    from inmesh.inbound._h11 import pair_item, validated

    items = validated(tuple(EXCHANGE))
    item = pair_item(tuple(EXCHANGE))
    assert items is not None and item is not None
    line = b"%s: %s\r\n" % (item[0], item[2])  # as h11's writer makes a header line
    assert line == b"".join(b"%s: %s\r\n" % (name, value) for name, value in EXCHANGE)
    assert item[1] == b"x-envoy-peer-metadata-id"


@pytest.mark.parametrize(
    "pair",
    [
        ((b"x-bad", b"a\r\nb"),),  # h11 would refuse it: the ordinary path says so
        ((b"content-length", b"5"),),  # framing: h11 rewrites it, never spliced
        ((b"Connection", b"close"),),
        ((b"x-ok", b"1"), (b"Host", b"h")),  # h11 writes host first
        (),
    ],
)
def test_what_is_never_written_by_the_connection(pair: tuple[tuple[bytes, bytes], ...]) -> None:
    from inmesh.inbound._h11 import pair_item, validated

    assert validated(pair) is None
    assert pair_item(pair) is None
