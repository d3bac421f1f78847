"""What the wire saw: a :class:`Try` per connection attempt and per request, kept per
sender (the asyncio task, else the thread) until the sender's request ends and its record
takes them (:class:`WireLog`)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

from ._outcomes import (
    Abort,
    Delay,
    DNSFailure,
    GrpcStatus,
    Outcome,
    Refuse,
    ResetBeforeHeaders,
    ResetMidBody,
    SlowBody,
    Stall,
    TLSFailure,
)


@dataclass(frozen=True, slots=True)
class Try:
    """One connection attempt or one request on the wire, as the network saw it."""

    endpoint: str
    #: the instance that listens there (``reviews-v1-0``), or the host
    name: str
    method: str = ""
    path: str = ""
    #: the request reached the upstream (False: the connection failed first)
    sent: bool = False
    #: the fault applied (``"refuse"``, ``"abort 503"``...), empty when none
    fault: str = ""


def label(out: Outcome | None) -> str:
    if out is None:
        return ""
    if isinstance(out, Abort):
        return f"abort {out.status}"
    if isinstance(out, GrpcStatus):
        return f"grpc-status {out.code}"
    if isinstance(out, Delay):
        return f"delay {out.seconds}s"
    return _NAMES[type(out)]


_NAMES: dict[type, str] = {
    Refuse: "connection refused",
    TLSFailure: "TLS handshake failure",
    DNSFailure: "DNS failure",
    ResetBeforeHeaders: "reset before headers",
    ResetMidBody: "reset mid-body",
    Stall: "stalled body",
    SlowBody: "slow body",
}


def context_key() -> object:
    """Who is sending: the asyncio task, else the thread (one request at a time each)."""
    try:
        task = asyncio.current_task()
    except RuntimeError:
        task = None
    return task if task is not None else threading.get_ident()


class WireLog:
    """Tries per sender, taken by the record hook when the sender's request ends."""

    def __init__(self) -> None:
        self._pending: dict[object, list[Try]] = {}
        self._lock = threading.Lock()
        self.all: list[Try] = []

    def add(self, t: Try) -> None:
        key = context_key()
        with self._lock:
            self._pending.setdefault(key, []).append(t)
            self.all.append(t)

    def take(self) -> list[Try]:
        with self._lock:
            return self._pending.pop(context_key(), [])
