"""Per-cluster resilience state that outlives configuration snapshots.

Envoy keeps a cluster's circuit-breaker counters and outlier-detection state across
configuration pushes as long as the cluster's settings are unchanged; so does inmesh: the
Mesh owns one ``ClusterState`` per cluster name and a new snapshot reuses it when the
cluster's connectionPool, outlierDetection and retryBudget are the same.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from .resilience import (
    UNLIMITED,
    OutlierDetector,
    OutlierPolicy,
    PoolGate,
    PoolLimits,
    RetryBudgetPolicy,
    RetryLimiter,
)


class ClusterState:
    """Admission gate, retry limiter and outlier detector of one cluster, for one client."""

    __slots__ = ("gate", "key", "limiter", "limits", "outlier")

    def __init__(self, key: tuple[Any, ...], policy: Any, endpoint_keys: Iterable[str]) -> None:
        self.key = key
        self.limits = PoolLimits.from_istio(policy.connection_pool)
        # maxRequestsPerConnection above 1 is refused by the support table before this
        self.gate = PoolGate(self.limits)
        budget = RetryBudgetPolicy.from_istio(policy.retry_budget)
        self.limiter: RetryLimiter | None = None
        if budget is not None or self.limits.max_retries != UNLIMITED:
            self.limiter = RetryLimiter(
                max_retries=self.limits.max_retries,
                budget=budget,
                active_requests=self.gate.inflight_reader(),
            )
        op = OutlierPolicy.from_istio(policy.outlier_detection)
        self.outlier = (
            OutlierDetector(op, endpoint_keys, now=time.monotonic()) if op is not None else None
        )


class ClusterStates:
    """The Mesh's ClusterState per cluster name, reused across snapshots while unchanged."""

    def __init__(self) -> None:
        self._states: dict[str, ClusterState] = {}
        self._lock = threading.Lock()

    def get(self, name: str, policy: Any, endpoint_keys: list[str]) -> ClusterState:
        key = (policy.connection_pool, policy.outlier_detection, policy.retry_budget)
        with self._lock:
            st = self._states.get(name)
            if st is not None and st.key == key:
                if st.outlier is not None:
                    st.outlier.update_endpoints(endpoint_keys)
                return st
            st = self._states[name] = ClusterState(key, policy, endpoint_keys)
            return st
