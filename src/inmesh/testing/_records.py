"""What the mesh did during a test: each request's record with the tries the wire saw.

A :class:`Request` pairs the outbound :class:`~inmesh.RequestRecord` (status, response
flags, attempts, route, subset, endpoint) with the :class:`~._wire.Try` entries of that
request: every endpoint a connection was attempted to and every time the request itself
reached an upstream. :class:`Requests` answers the common questions.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import overload

from ..telemetry import RequestRecord
from ._tries import Try


@dataclass(frozen=True, slots=True)
class Request:
    """One request a mesh client sent, as the mesh recorded it and the wire saw it."""

    record: RequestRecord
    tries: tuple[Try, ...]

    @property
    def status(self) -> int:
        return self.record.status

    @property
    def flags(self) -> frozenset[str]:
        """Envoy's response flags (``UF``, ``URX``, ``UT``, ``FI``...)."""
        return frozenset(f for f in self.record.response_flags.split(",") if f and f != "-")

    @property
    def attempts(self) -> int:
        return self.record.attempts

    @property
    def method(self) -> str:
        return self.record.method

    @property
    def route(self) -> str:
        return self.record.route_name

    @property
    def subset(self) -> str:
        return self.record.destination_subset

    @property
    def endpoint(self) -> str:
        """The last endpoint tried (``address:port``)."""
        return self.record.destination_endpoint

    @property
    def endpoints_tried(self) -> tuple[str, ...]:
        """Every endpoint a try went to, in order (connect failures included)."""
        return tuple(t.endpoint for t in self.tries)

    @property
    def instances_tried(self) -> tuple[str, ...]:
        """The same, by instance name (``reviews-v1-0``)."""
        return tuple(t.name for t in self.tries)

    @property
    def sent(self) -> int:
        """How many times the request reached an upstream."""
        return sum(1 for t in self.tries if t.sent)

    @property
    def retried(self) -> bool:
        return self.record.attempts > 1

    def to(self, service: str) -> bool:
        """Whether it went to ``service`` (a short name, an FQDN or an external host)."""
        dest = self.record.destination_service
        return dest == service or dest.startswith(service + ".")


class Requests(Sequence[Request]):
    """The requests of a test, in the order they ended (source side), with helpers."""

    def __init__(self, items: Sequence[Request] = ()) -> None:
        self._items = list(items)
        self._lock = threading.Lock()

    def append(self, request: Request) -> None:
        with self._lock:
            self._items.append(request)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    @overload
    def __getitem__(self, i: int) -> Request: ...
    @overload
    def __getitem__(self, i: slice) -> Requests: ...
    def __getitem__(self, i: int | slice) -> Request | Requests:
        if isinstance(i, slice):
            return Requests(self._items[i])
        return self._items[i]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Request]:
        return iter(list(self._items))

    def __repr__(self) -> str:
        rows = ", ".join(
            f"{r.method} {r.record.destination_service}{r.record.path} -> {r.status}"
            f"{' ' + r.record.response_flags if r.record.response_flags else ''}"
            for r in self._items
        )
        return f"Requests([{rows}])"

    # -- selections -------------------------------------------------------------------------

    def to(self, service: str) -> Requests:
        """The requests sent to ``service``."""
        return Requests([r for r in self._items if r.to(service)])

    def sent_by(self, service: str) -> Requests:
        """The requests ``service`` sent (the test's own client: the Sandbox's service)."""
        return Requests([r for r in self._items if r.record.source_service == service])

    def with_flag(self, flag: str) -> Requests:
        """The requests whose response flags include ``flag``."""
        return Requests([r for r in self._items if flag in r.flags])

    def statuses(self) -> list[int]:
        return [r.status for r in self._items]

    # -- questions ---------------------------------------------------------------------------

    def retried(self, service: str | None = None) -> bool:
        """Was any request (to ``service``) tried more than once?"""
        items = self.to(service) if service is not None else self
        return any(r.retried for r in items)

    def sent_twice(self, method: str = "POST", service: str | None = None) -> bool:
        """Did any ``method`` request (to ``service``) reach an upstream more than once?"""
        items = self.to(service) if service is not None else self
        return any(r.method == method.upper() and r.sent > 1 for r in items)

    def endpoints(self, service: str | None = None) -> list[str]:
        """The endpoints that answered, one per request (the last try's)."""
        items = self.to(service) if service is not None else self
        return [r.endpoint for r in items]
