"""Istio's ``connectionPool`` thresholds, and admission of requests against them.

:class:`PoolLimits` is the DestinationRule's ``connectionPool`` compiled to numbers; Istio
fills every unset (or zero) circuit-breaker threshold with 2^32 - 1
(``getDefaultCircuitBreakerThresholds``: ``max_connections``, ``max_pending_requests``,
``max_requests`` and ``max_retries``), so by default nothing is ever rejected.
``tcp.connectTimeout`` defaults to 10 s; ``http.idleTimeout`` and ``tcp.idleTimeout`` to 1 h
(Istio's DestinationRule reference); ``maxRequestsPerConnection`` 0 means unlimited.

:class:`PoolGate` admits requests the way Envoy's cluster resource manager does: past a
limit the request is rejected at once, never queued behind the breaker (the mesh answers
503, flag ``UO``). With HTTP/1.1 each in-flight request needs its own connection, so a
request beyond ``max_connections`` in flight is *pending* (Envoy queues it until a
connection frees up) and is admitted only while fewer than ``http1MaxPendingRequests`` are
pending; every request also counts against ``http2MaxRequests`` (Envoy's ``max_requests``,
"applicable to both HTTP1.1 and HTTP2"). With HTTP/2, requests share connections and only
``max_requests`` applies. The transport should give its httpx pool ``max_connections`` as its
connection limit, so the pending requests really wait in httpcore's queue.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from ._budget import UNLIMITED

DEFAULT_CONNECT_TIMEOUT: Final = 10.0
DEFAULT_IDLE_TIMEOUT: Final = 3600.0


def _threshold(value: Any) -> int:
    """Istio applies a threshold only when it is positive; otherwise 2^32 - 1."""
    return int(value) if value is not None and value > 0 else UNLIMITED


@dataclass(frozen=True, slots=True)
class PoolLimits:
    """A DestinationRule's ``connectionPool``, with Istio's defaults filled in."""

    max_connections: int = UNLIMITED
    max_pending_requests: int = UNLIMITED
    max_requests: int = UNLIMITED
    max_requests_per_connection: int = 0
    max_retries: int = UNLIMITED
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT
    tcp_idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT

    @classmethod
    def from_istio(cls, connection_pool: Any | None) -> PoolLimits:
        """Istio's ``applyConnectionPool`` for a ``connectionPool`` model (duck-typed)."""
        if connection_pool is None:
            return DEFAULT_POOL_LIMITS
        tcp = getattr(connection_pool, "tcp", None)
        http = getattr(connection_pool, "http", None)
        connect = getattr(tcp, "connect_timeout", None)
        idle = getattr(http, "idle_timeout", None)
        tcp_idle = getattr(tcp, "idle_timeout", None)
        per_conn = getattr(http, "max_requests_per_connection", None)
        return cls(
            max_connections=_threshold(getattr(tcp, "max_connections", None)),
            max_pending_requests=_threshold(getattr(http, "http1_max_pending_requests", None)),
            max_requests=_threshold(getattr(http, "http2_max_requests", None)),
            max_requests_per_connection=int(per_conn) if per_conn and per_conn > 0 else 0,
            max_retries=_threshold(getattr(http, "max_retries", None)),
            connect_timeout=connect if connect else DEFAULT_CONNECT_TIMEOUT,
            # idleTimeout "0s" disables the timeout (Envoy: zero means no idle timeout).
            idle_timeout=DEFAULT_IDLE_TIMEOUT if idle is None else (idle or None),
            tcp_idle_timeout=DEFAULT_IDLE_TIMEOUT if tcp_idle is None else (tcp_idle or None),
        )

    def inflight_limit(self, *, http2: bool) -> int:
        """How many requests may be in flight at once before the next one overflows."""
        if http2:
            return self.max_requests
        return min(self.max_requests, self.max_connections + self.max_pending_requests)


DEFAULT_POOL_LIMITS: Final = PoolLimits()
"""No ``connectionPool``: Istio's defaults (nothing is limited but the 10 s connect)."""


class Ticket:
    """Proof of admission; :meth:`release` it exactly once when the request ends."""

    __slots__ = ("release",)

    def __init__(self, release: Callable[[], Any]) -> None:
        self.release = release


class PoolGate:
    """Admission counter of one destination (cluster) for one client.

    ``try_acquire`` is a length test and an ``append`` on a deque (atomic in CPython, so no
    update is lost between threads; like Envoy's resource manager, racing callers may
    overshoot a limit by a little). It returns one preallocated :class:`Ticket`, so the
    healthy path allocates nothing.
    """

    __slots__ = ("_inflight", "_limit", "_ticket", "limits")

    def __init__(self, limits: PoolLimits = DEFAULT_POOL_LIMITS, *, http2: bool = False) -> None:
        self.limits = limits
        self._limit = limits.inflight_limit(http2=http2)
        self._inflight: deque[None] = deque()
        self._ticket = Ticket(self._inflight.pop)

    @property
    def inflight(self) -> int:
        """Requests admitted and not yet released (active plus pending)."""
        return len(self._inflight)

    def inflight_reader(self) -> Callable[[], int]:
        """A cheap callable for :class:`~inmesh.resilience.RetryLimiter`'s ``active_requests``."""
        return self._inflight.__len__

    def try_acquire(self) -> Ticket | None:
        """Admit one request, or ``None`` if a threshold is reached (answer 503, flag UO)."""
        if len(self._inflight) >= self._limit:
            return None
        self._inflight.append(None)
        return self._ticket
