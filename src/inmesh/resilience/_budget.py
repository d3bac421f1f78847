"""How many retries may be in flight to one destination: Envoy's ``retries`` resource.

Two Istio knobs set it, both on the DestinationRule:

- ``trafficPolicy.retryBudget`` (istio/api#3512, Envoy's ``RetryBudget``): active retries may
  be at most ``percent`` (default 20) % of the destination's active plus pending requests,
  but never fewer than ``minRetryConcurrency`` (default 3). Envoy's ``RetryBudgetImpl::max()``
  is ``max(budget_percent / 100 * (active + pending), min_retry_concurrency)`` with the
  product truncated to an integer. When a budget is configured it replaces the fixed limit.
- ``connectionPool.http.maxRetries``: a fixed limit on outstanding retries. Istio sets
  Envoy's ``max_retries`` threshold to 2^32 - 1 unless it is given a positive value
  (``getDefaultCircuitBreakerThresholds``), so by default it never trips.

A retry holds its slot from the moment it is decided (through the back-off and the retried
attempt) until that attempt's outcome is judged or the request ends, as Envoy's
``RetryStateImpl`` holds ``retries()`` between ``shouldRetry`` and ``resetRetry``.

When no slot is free the retry is not made and the request ends with the last attempt's
response (or local reply); Envoy flags that ``UO`` (``RetryStatus::NoOverflow`` sets
``UpstreamOverflow``), while running out of ``attempts`` is ``URX``
(``NoRetryLimitExceeded``). :class:`~inmesh.resilience.RetryState` reports which.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

UNLIMITED: Final = 2**32 - 1
"""Istio's default for every circuit-breaker threshold (``math.MaxUint32``)."""


@dataclass(frozen=True, slots=True)
class RetryBudgetPolicy:
    """``trafficPolicy.retryBudget``: retries as a share of active requests, with a floor."""

    percent: float = 20.0
    min_retry_concurrency: int = 3

    @classmethod
    def from_istio(cls, retry_budget: Any | None) -> RetryBudgetPolicy | None:
        """The budget of a DestinationRule's ``retryBudget`` (duck-typed), or ``None``."""
        if retry_budget is None:
            return None
        percent = getattr(retry_budget, "percent", None)
        if percent is not None and hasattr(percent, "value"):  # a Percent/DoubleValue wrapper
            percent = percent.value
        minimum = getattr(retry_budget, "min_retry_concurrency", None)
        return cls(
            percent=20.0 if percent is None else float(percent),
            # istio/api: "Defaults to 3." (an unset uint32 reads as 0 in Istio's proto)
            min_retry_concurrency=3 if not minimum else int(minimum),
        )

    def allowed(self, active_requests: int) -> int:
        """Envoy's ``RetryBudgetImpl::max()`` for the given active + pending requests."""
        share = int(self.percent / 100.0 * active_requests)
        return share if share > self.min_retry_concurrency else self.min_retry_concurrency


class RetryLimiter:
    """The live count of retries in flight to one destination, and the admission test.

    ``active_requests`` reads the destination's active + pending requests (the
    :class:`~inmesh.resilience.PoolGate`'s ``inflight``); it is consulted only when a budget
    is set and only on the failure path. Counting uses a deque's atomic ``append``/``pop``,
    so threads never lose an update; like Envoy's resource manager the test-then-take is not
    one atomic step, so racing retries may overshoot the limit by a little.
    """

    __slots__ = ("_active_requests", "_budget", "_max_retries", "_slots")

    def __init__(
        self,
        *,
        max_retries: int = UNLIMITED,
        budget: RetryBudgetPolicy | None = None,
        active_requests: Callable[[], int] | None = None,
    ) -> None:
        self._max_retries = max_retries
        self._budget = budget
        self._active_requests = active_requests or (lambda: 0)
        self._slots: deque[None] = deque()

    @property
    def active(self) -> int:
        """Retries holding a slot now."""
        return len(self._slots)

    def limit(self) -> int:
        """How many retries may be in flight right now."""
        if self._budget is not None:
            return self._budget.allowed(self._active_requests())
        return self._max_retries

    def try_acquire(self) -> bool:
        """Take a slot for one retry; ``False`` means overflow (no retry, flag UO)."""
        if len(self._slots) >= self.limit():
            return False
        self._slots.append(None)
        return True

    def release(self) -> None:
        """Give back a slot taken by :meth:`try_acquire`."""
        with contextlib.suppress(IndexError):  # a double release never goes below zero
            self._slots.pop()
