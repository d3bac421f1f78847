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
}


def exchange(cls: type[h11.Connection], request: bytes, status: int, headers: list) -> bytes:
    """The bytes ``cls`` writes for one answer, as uvicorn drives it, then its states."""
    conn = cls(h11.SERVER)
    conn.receive_data(request)
    assert type(conn.next_event()) is h11.Request
    out = conn.send(h11.Response(status_code=status, headers=list(headers), reason=b"OK")) or b""
    if conn.our_state is h11.SEND_BODY:
        body = b"" if request.startswith(b"HEAD") or status in (204, 304) else b"hello"
        out += conn.send(h11.Data(data=body)) or b""
        out += conn.send(h11.EndOfMessage()) or b""
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


def test_a_spliced_pair_writes_the_bytes_of_the_pair_in_the_headers() -> None:
    """answer_with: the pair, validated once (validated()), lands at the index given, and
    the answer is byte for byte the one with the pair among the headers."""
    from inmesh.inbound._h11 import validated

    items = validated(tuple(EXCHANGE))
    assert items is not None and validated(tuple(EXCHANGE)) is items  # once per pair
    for request in REQUESTS.values():
        app = [(b"content-type", b"application/json"), (b"x-app", b"1")]
        spliced = MeshH11Connection(h11.SERVER)
        spliced.receive_data(request)
        spliced.next_event()
        spliced.answer_with(1, items)
        ours = spliced.send(h11.Response(status_code=200, headers=list(app), reason=b"OK"))
        assert spliced._inmesh_answer is None  # used once
        theirs = exchange(h11.Connection, request, 200, [app[0], *EXCHANGE, app[1]])
        assert theirs.startswith(ours or b"")


@pytest.mark.parametrize(
    "pair",
    [
        ((b"x-bad", b"a\r\nb"),),  # h11 would refuse it: the ordinary path says so
        ((b"content-length", b"5"),),  # framing: h11 rewrites it, never spliced
        ((b"Connection", b"close"),),
    ],
)
def test_what_is_never_spliced(pair: tuple[tuple[bytes, bytes], ...]) -> None:
    from inmesh.inbound._h11 import validated

    assert validated(pair) is None
