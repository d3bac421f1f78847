"""httpcore's errors, translated in exactly one place (httpx's ``map_httpcore_exceptions``
is the model): into the Envoy failure an attempt stands for, or into httpx's exception for
errors that are the application's own; and into a short cause for records and logs.
"""

from __future__ import annotations

import socket
import ssl
from typing import NoReturn

import httpcore
import httpx

from ..resilience import LocalFailure

# httpcore -> httpx, most specific first, as httpx's own transport translates them.
_HTTPX: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


def to_httpx(exc: Exception) -> Exception:
    """httpx's exception for an httpcore one (other exceptions are returned as they are)."""
    for source, target in _HTTPX:
        if isinstance(exc, source):
            err = target(str(exc) or cause(exc))
            err.__cause__ = exc
            return err
    return exc


def raise_as_httpx(exc: Exception) -> NoReturn:
    """Raise ``exc`` as httpx's exception (itself when it is not httpcore's)."""
    mapped = to_httpx(exc)
    if mapped is exc:
        raise exc
    raise mapped from exc


def failure_of(exc: BaseException) -> tuple[LocalFailure, bool] | None:
    """The Envoy failure an attempt's error stands for, and whether the request had been
    sent; None for errors that are the application's own (its timeouts, its pool limits,
    a protocol it cannot speak). A bare ``TimeoutError`` (one httpcore did not translate)
    is an upstream timeout, with the request sent."""
    if isinstance(exc, httpcore.ConnectTimeout):
        return LocalFailure.CONNECT_TIMEOUT, False
    if isinstance(exc, httpcore.ConnectError):
        return LocalFailure.CONNECT_FAILURE, False
    if isinstance(exc, httpcore.WriteError):
        return LocalFailure.RESET_BEFORE_HEADERS, False
    if isinstance(exc, (httpcore.RemoteProtocolError, httpcore.ReadError)):
        return LocalFailure.RESET_BEFORE_HEADERS, True
    if isinstance(exc, TimeoutError):
        return LocalFailure.TIMEOUT, True
    return None


def cause(exc: BaseException) -> str:
    """A short, human cause for a failed attempt: ``connection refused``,
    ``DNS resolution failed: ...``, ``TLS error: certificate verify failed ...``."""
    seen: BaseException | None = exc
    for _ in range(4):  # httpcore wraps the OS error: look down the chain
        if seen is None:
            break
        if isinstance(seen, (ssl.SSLWantReadError, ssl.SSLWantWriteError)):
            # TLS flow control found on the way, not the cause: a socket closed under a
            # read shows up as "The operation did not complete (read)"
            return "connection closed during a TLS read"
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return f"DNS resolution failed ({seen.strerror or seen})"
        if isinstance(seen, ssl.SSLCertVerificationError):
            return f"TLS error: certificate verify failed ({seen.verify_message})"
        if isinstance(seen, ssl.SSLError):
            return f"TLS error: {getattr(seen, 'reason', None) or seen}"
        if isinstance(seen, (ConnectionResetError, BrokenPipeError)):
            return "connection reset by peer"
        seen = seen.__cause__ or seen.__context__
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, httpcore.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, httpcore.RemoteProtocolError):
        return (
            f"connection closed before response headers ({exc})"
            if str(exc)
            else ("connection closed before response headers")
        )
    text = str(exc)
    if "Name or service not known" in text or "nodename nor servname" in text:
        return f"DNS resolution failed ({text})"
    if "Connection refused" in text:
        return "connection refused"
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text:
        return f"TLS error: {text}"
    return text or type(exc).__name__
