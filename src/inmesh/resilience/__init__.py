"""Resilience: retries, timeouts, circuit breaking, outlier detection, faults, mirroring.

The pure, sans-IO core (no sockets, no sleeping, clocks and random generators injected) that
the async and sync transports drive per request, following Envoy as Istio configures it:

- :class:`ResponseClassifier` (:data:`CLASSIFIER`): one verdict per attempt outcome, shared
  by retries, outlier detection and stats.
- :class:`RetryPolicy` (route ``retries``) and :class:`RetryState` (one request's loop:
  :class:`Step` send / wait / give up), with :class:`Deadline` (route ``timeout``,
  ``perTryTimeout``, the application's limit).
- :class:`RetryBudgetPolicy` / :class:`RetryLimiter` (``retryBudget``, ``maxRetries``) and
  :class:`PoolLimits` / :class:`PoolGate` (``connectionPool``).
- :class:`OutlierPolicy` / :class:`OutlierDetector` (``outlierDetection``).
- :class:`FaultPolicy` (route ``fault``) and :class:`MirrorPolicy` /
  :func:`shadow_authority` (route ``mirror``).

Config models come in duck-typed through each ``from_istio``; nothing here imports them.
"""

from __future__ import annotations

from ._budget import UNLIMITED, RetryBudgetPolicy, RetryLimiter
from ._classify import CLASSIFIER, LocalFailure, Outcome, ResponseClassifier, Verdict
from ._deadline import UNBOUNDED, Deadline
from ._fault import ABORT_BODY, ABORT_FLAG, DELAY_FLAG, FaultPolicy
from ._mirror import MirrorPolicy, shadow_authority
from ._outlier import HostMonitor, OutlierDetector, OutlierPolicy
from ._pool_limits import PoolGate, PoolLimits, Ticket
from ._retry import (
    DEFAULT_RETRY_POLICY,
    NO_RETRIES,
    RetryOn,
    RetryPolicy,
    parse_retry_on,
)
from ._retry_state import RetryState, Step, parse_retry_after

# Plain sorted() order (the public-surface test checks it), not isort's.
__all__ = [  # noqa: RUF022
    "ABORT_BODY",
    "ABORT_FLAG",
    "CLASSIFIER",
    "DEFAULT_RETRY_POLICY",
    "DELAY_FLAG",
    "Deadline",
    "FaultPolicy",
    "HostMonitor",
    "LocalFailure",
    "MirrorPolicy",
    "NO_RETRIES",
    "Outcome",
    "OutlierDetector",
    "OutlierPolicy",
    "PoolGate",
    "PoolLimits",
    "ResponseClassifier",
    "RetryBudgetPolicy",
    "RetryLimiter",
    "RetryOn",
    "RetryPolicy",
    "RetryState",
    "Step",
    "Ticket",
    "UNBOUNDED",
    "UNLIMITED",
    "Verdict",
    "parse_retry_after",
    "parse_retry_on",
    "shadow_authority",
]
