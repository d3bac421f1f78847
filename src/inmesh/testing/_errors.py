"""Errors as httpcore raises them for the real failures, so that the mesh's one translation
(``outbound/_errors.py``) reads an injected failure exactly as a real one: the same
exception class, the same message (httpcore's pool re-raises ``from None``, so the message
is what the mesh's ``cause`` reads), and the OS or ssl error as the cause."""

from __future__ import annotations

import socket
import ssl
from typing import TYPE_CHECKING

import httpcore

from ._outcomes import DNSFailure, Outcome, Refuse

if TYPE_CHECKING:
    from ._rules import EndpointInfo


def connect_error(out: Outcome, ep: EndpointInfo) -> httpcore.ConnectError:
    """httpcore's exception for a failed connect, with the OS/ssl error as its cause."""
    cause: BaseException
    if isinstance(out, Refuse):
        cause = ConnectionRefusedError(111, "Connection refused")
        msg = "[Errno 111] Connection refused"
    elif isinstance(out, DNSFailure):
        cause = socket.gaierror(-2, "Name or service not known")
        msg = "[Errno -2] Name or service not known"
    else:
        msg = "[SSL: SSLV3_ALERT_HANDSHAKE_FAILURE] sslv3 alert handshake failure"
        cause = ssl.SSLError(1, msg)
        cause.reason = "SSLV3_ALERT_HANDSHAKE_FAILURE"
    err = httpcore.ConnectError(msg)
    err.__cause__ = cause
    return err


def async_read_timeout() -> httpcore.ReadTimeout:
    """As httpcore's anyio backend reports a read timeout: from a bare ``TimeoutError``."""
    cause = TimeoutError()
    err = httpcore.ReadTimeout(cause)
    err.__cause__ = cause
    return err


def sync_read_timeout() -> httpcore.ReadTimeout:
    """As httpcore's sync backend reports it: from the socket's ``timed out``."""
    cause = TimeoutError("timed out")
    err = httpcore.ReadTimeout(cause)
    err.__cause__ = cause
    return err
