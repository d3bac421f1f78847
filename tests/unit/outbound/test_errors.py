"""httpcore's errors translated in one place: Envoy failures, httpx errors, causes."""

from __future__ import annotations

import socket
import ssl

import httpcore
import httpx
import pytest

from inmesh.outbound._errors import cause, failure_of, raise_as_httpx, to_httpx
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
    with pytest.raises(httpx.RemoteProtocolError):
        raise_as_httpx(httpcore.RemoteProtocolError("closed"))


def test_a_client_certificate_refused_after_a_tls13_handshake_is_not_a_connect_failure() -> None:
    # TLS 1.3: the client's handshake completes before the server checks the client's
    # certificate; the refusal arrives as an alert on the first read, after the request
    # was written. Not a safe connect-failure to retry (Envoy: a reset after the request).
    alert = ssl.SSLError(1, "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert")
    alert.reason = "TLSV13_ALERT_CERTIFICATE_REQUIRED"  # type: ignore[misc]
    exc = httpcore.ReadError(str(alert))
    exc.__cause__ = alert
    assert failure_of(exc) == (LocalFailure.RESET_BEFORE_HEADERS, True)
    assert cause(exc) == "TLS error: TLSV13_ALERT_CERTIFICATE_REQUIRED"


def test_tls_flow_control_is_not_taken_for_the_cause() -> None:
    want = ssl.SSLWantReadError(2, "The operation did not complete (read)")
    exc = httpcore.ReadError(str(want))
    exc.__cause__ = want
    assert cause(exc) == "connection closed during a TLS read"
