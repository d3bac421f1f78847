"""The wire's response bookkeeping (where a mid-body cut or a slow chunk falls) and the
errors it raises, compared with what the mesh makes of real ones."""

from __future__ import annotations

from inmesh.outbound._errors import cause, failure_of
from inmesh.resilience import LocalFailure
from inmesh.testing._errors import connect_error
from inmesh.testing._outcomes import (
    Abort,
    DNSFailure,
    GrpcStatus,
    Refuse,
    ResetMidBody,
    SlowBody,
    TLSFailure,
)
from inmesh.testing._rules import EndpointInfo
from inmesh.testing._wire import _Response

EP = EndpointInfo(key="127.1.0.2:80", hosts=frozenset({"backend"}))
HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n"


def test_a_mid_body_cut_keeps_the_head_and_the_first_bytes() -> None:
    r = _Response(ResetMidBody(after_bytes=5))
    now, later = r.split(HEAD + b"x" * 20)
    assert now == HEAD + b"xxxxx" and later == b"x" * 15 and r.cut()


def test_the_head_may_come_in_pieces() -> None:
    r = _Response(ResetMidBody(after_bytes=2))
    assert r.split(HEAD[:10]) == (HEAD[:10], b"")
    assert not r.cut()
    now, later = r.split(HEAD[10:] + b"abcd")
    assert now == HEAD[10:] + b"ab" and later == b"cd" and r.cut()


def test_a_slow_body_comes_a_chunk_at_a_time() -> None:
    r = _Response(SlowBody(chunk_bytes=8))
    now, later = r.split(HEAD + b"y" * 20)
    assert now == HEAD + b"y" * 8 and later == b"y" * 12


def test_canned_answers_are_http_responses() -> None:
    abort = _Response(Abort(503))
    assert abort.swallow and abort.canned.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    grpc = GrpcStatus(14).response()
    assert b"grpc-status: 14\r\n" in grpc and b"content-type: application/grpc\r\n" in grpc


def test_connect_errors_are_connect_failures_with_the_real_causes() -> None:
    refused, dns, tls = (connect_error(o, EP) for o in (Refuse(), DNSFailure(), TLSFailure()))
    for err in (refused, dns, tls):
        assert failure_of(err) == (LocalFailure.CONNECT_FAILURE, False)
    assert cause(refused) == "connection refused"
    assert cause(dns).startswith("DNS resolution failed")
    assert cause(tls).startswith("TLS error: ")
    # httpcore's pool re-raises "from None": the message alone must say the same
    for err in (refused, dns, tls):
        err.__cause__ = None
    assert cause(refused) == "connection refused"
    assert cause(dns).startswith("DNS resolution failed")
    assert cause(tls).startswith("TLS error: ")
