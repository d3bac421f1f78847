"""httpcore's errors translated in one place: Envoy failures, httpx errors, causes."""

from __future__ import annotations

import socket
import ssl

import httpcore
import httpx
import pytest

from inmesh.outbound._errors import cause, failure_of, httpx_errors, to_httpx
from inmesh.resilience import LocalFailure


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpcore.ConnectTimeout(), (LocalFailure.CONNECT_TIMEOUT, False)),
        (httpcore.ConnectError(), (LocalFailure.CONNECT_FAILURE, False)),
        (httpcore.WriteError(), (LocalFailure.RESET_BEFORE_HEADERS, False)),
        (httpcore.ReadError(), (LocalFailure.RESET_BEFORE_HEADERS, True)),
        (httpcore.RemoteProtocolError(), (LocalFailure.RESET_BEFORE_HEADERS, True)),
        (TimeoutError(), (LocalFailure.TIMEOUT, True)),
        (httpcore.PoolTimeout(), None),
        (httpcore.UnsupportedProtocol(), None),
    ],
)
def test_failure_of(exc: Exception, expected: object) -> None:
    assert failure_of(exc) == expected


def _wrapped(inner: BaseException) -> httpcore.ConnectError:
    outer = httpcore.ConnectError(str(inner))
    outer.__cause__ = inner
    return outer


def test_causes_name_what_happened() -> None:
    assert cause(_wrapped(ConnectionRefusedError(111, "Connection refused"))) == (
        "connection refused"
    )
    dns = cause(_wrapped(socket.gaierror(-2, "Name or service not known")))
    assert dns == "DNS resolution failed (Name or service not known)"
    tls = ssl.SSLCertVerificationError(1, "certificate verify failed")
    tls.verify_message = "unable to get local issuer certificate"
    assert cause(_wrapped(tls)) == (
        "TLS error: certificate verify failed (unable to get local issuer certificate)"
    )
    assert cause(TimeoutError()) == "timed out"


def test_to_httpx_most_specific_first() -> None:
    assert type(to_httpx(httpcore.ConnectTimeout("x"))) is httpx.ConnectTimeout
    assert type(to_httpx(httpcore.ReadError("x"))) is httpx.ReadError
    plain = ValueError("x")
    assert to_httpx(plain) is plain
    with pytest.raises(httpx.RemoteProtocolError), httpx_errors():
        raise httpcore.RemoteProtocolError("closed")
