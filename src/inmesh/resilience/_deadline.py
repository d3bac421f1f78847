"""The time budget of one request: route timeout, per-try timeout, the application's limit.

Envoy's router rule (``x-envoy-max-retries`` notes in the router filter docs): the route
timeout *includes* all retries and their back-off, so if it is 3 s and the first attempt took
2.7 s, the retry has 0.3 s. Each attempt is further bounded by the per-try timeout, which only
matters when it is shorter than what is left. Istio's route ``timeout`` is disabled by default
(``setTimeout`` writes Envoy's 0, "no timeout"), and so is the per-try timeout: an unset
``perTryTimeout`` means an attempt may use whatever the route has left. A limit the
application set itself is a third bound; the shortest wins.

Pure arithmetic on an injected monotonic clock reading (seconds); nothing sleeps here.
"""

from __future__ import annotations

import math

_INF = math.inf


class Deadline:
    """When one request must end, and how long its next attempt may take.

    ``start`` is the monotonic time the route's clock starts: after any injected fault delay,
    since Envoy's fault filter runs before the router starts the route timeout.
    ``route_timeout`` is ``HTTPRoute.timeout``; ``per_try_timeout`` is
    ``HTTPRetry.perTryTimeout``. ``None`` or ``0`` disables a limit (the application's own
    httpx timeouts keep applying inside httpcore regardless).
    """

    __slots__ = ("expires", "per_try")

    def __init__(
        self,
        *,
        start: float,
        route_timeout: float | None = None,
        per_try_timeout: float | None = None,
    ) -> None:
        # None, 0 (Envoy's "disabled") and negative values all mean no limit.
        limit = route_timeout if route_timeout is not None and route_timeout > 0 else _INF
        self.expires: float = start + limit
        self.per_try: float = (
            per_try_timeout if per_try_timeout is not None and per_try_timeout > 0 else _INF
        )

    def remaining(self, now: float) -> float | None:
        """Seconds left for the whole request (never negative), or ``None`` if unbounded."""
        if self.expires == _INF:
            return None
        return max(0.0, self.expires - now)

    def expired(self, now: float) -> bool:
        """True once the overall deadline has passed: answer 504, flag UT, and stop.

        Also how to tell, when an attempt times out, whether it hit the overall deadline
        (Envoy's global timeout: never retried) or only its per-try timeout (retriable).
        """
        return now >= self.expires

    def attempt_timeout(self, now: float) -> float | None:
        """The timeout for an attempt starting ``now``: min(per-try, time left), or ``None``.

        ``0.0`` means the deadline has already passed.
        """
        left = self.expires - now
        t = self.per_try if self.per_try < left else left
        if t == _INF:
            return None
        return t if t > 0.0 else 0.0


UNBOUNDED = Deadline(start=0.0)
"""A deadline that never expires (no route, per-try or client timeout)."""
