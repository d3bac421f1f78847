"""What a fault does, one frozen record per kind, named as the failure it imitates.

Connect phase (decided when the pool opens a connection): :class:`Refuse`,
:class:`TLSFailure`, :class:`DNSFailure`, raised as httpcore raises the real ones.
Request phase (decided when a request head goes out): :class:`Abort` and
:class:`GrpcStatus` (the upstream's answer), :class:`Delay`, :class:`ResetBeforeHeaders`,
:class:`ResetMidBody`, :class:`Stall`, :class:`SlowBody`.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus


@dataclass(frozen=True, slots=True)
class Abort:
    """The upstream answers ``status`` (with ``connection: close``)."""

    status: int
    body: str = ""

    def response(self) -> bytes:
        try:
            reason = HTTPStatus(self.status).phrase
        except ValueError:
            reason = "Injected"
        body = (self.body or f"injected fault: {self.status} {reason}").encode()
        return (
            f"HTTP/1.1 {self.status} {reason}\r\ncontent-type: text/plain\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        ).encode() + body


@dataclass(frozen=True, slots=True)
class GrpcStatus:
    """A trailers-only gRPC answer: HTTP 200 with ``grpc-status`` in the headers."""

    code: int
    message: str = ""

    def response(self) -> bytes:
        message = self.message or f"injected fault: grpc-status {self.code}"
        return (
            "HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\n"
            f"grpc-status: {self.code}\r\ngrpc-message: {message}\r\n"
            "content-length: 0\r\nconnection: close\r\n\r\n"
        ).encode()


@dataclass(frozen=True, slots=True)
class Delay:
    """The response headers come ``seconds`` late."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Refuse:
    """``ECONNREFUSED`` at connect."""


@dataclass(frozen=True, slots=True)
class TLSFailure:
    """The TLS handshake fails (an SSL alert) at connect."""


@dataclass(frozen=True, slots=True)
class DNSFailure:
    """The host does not resolve (``socket.gaierror``) at connect."""


@dataclass(frozen=True, slots=True)
class ResetBeforeHeaders:
    """The request is delivered; the connection closes before any response byte."""


@dataclass(frozen=True, slots=True)
class ResetMidBody:
    """Headers and ``after_bytes`` of the body arrive; then the connection closes."""

    after_bytes: int = 0


@dataclass(frozen=True, slots=True)
class Stall:
    """Headers and ``after_bytes`` of the body arrive; then nothing for ``seconds`` (None:
    for ever)."""

    after_bytes: int = 0
    seconds: float | None = None


@dataclass(frozen=True, slots=True)
class SlowBody:
    """The body comes ``chunk_bytes`` at a time, ``seconds_per_chunk`` apart."""

    chunk_bytes: int = 64
    seconds_per_chunk: float = 0.01


Outcome = (
    Abort
    | GrpcStatus
    | Delay
    | Refuse
    | TLSFailure
    | DNSFailure
    | ResetBeforeHeaders
    | ResetMidBody
    | Stall
    | SlowBody
)
CONNECT_PHASE = (Refuse, TLSFailure, DNSFailure)
#: outcomes the wire answers itself, without the app
CANNED = (Abort, GrpcStatus)

_NAMED: dict[str, Outcome] = {
    "refuse": Refuse(),
    "refused": Refuse(),
    "tls": TLSFailure(),
    "dns": DNSFailure(),
    "reset": ResetBeforeHeaders(),
    "reset-before-headers": ResetBeforeHeaders(),
    "reset-mid-body": ResetMidBody(),
    "stall": Stall(),
    "slow": SlowBody(),
}


def outcome_of(value: int | str | Outcome | None, *, body: str = "") -> Outcome | None:
    """An outcome from a status, a name (``"reset"``, ``"refuse"``...), an outcome, or None
    (pass: the app answers)."""
    if value is None or isinstance(value, (*CONNECT_PHASE, *CANNED, Delay, ResetBeforeHeaders)):
        return value
    if isinstance(value, (ResetMidBody, Stall, SlowBody)):
        return value
    if isinstance(value, bool):
        raise TypeError(f"not a fault outcome: {value!r}")
    if isinstance(value, int):
        if not 100 <= value <= 599:
            raise ValueError(f"an HTTP status is 100-599, not {value}")
        return Abort(value, body)
    if isinstance(value, str):
        try:
            return _NAMED[value]
        except KeyError:
            names = ", ".join(sorted(_NAMED))
            raise ValueError(f"unknown fault outcome {value!r}: one of {names}") from None
    raise TypeError(f"not a fault outcome: {value!r}")
