"""The public surface of inmesh.resilience."""

from __future__ import annotations

import inmesh.resilience as resilience


def test_all_is_sorted_and_complete() -> None:
    assert resilience.__all__ == sorted(resilience.__all__)
    assert set(resilience.__all__) == {
        "ABORT_BODY",
        "ABORT_FLAG",
        "CLASSIFIER",
        "DEFAULT_RETRY_POLICY",
        "DELAY_FLAG",
        "NO_RETRIES",
        "UNBOUNDED",
        "UNLIMITED",
        "Deadline",
        "FaultPolicy",
        "HostMonitor",
        "LocalFailure",
        "MirrorPolicy",
        "Outcome",
        "OutlierDetector",
        "OutlierPolicy",
        "PoolGate",
        "PoolLimits",
        "ResponseClassifier",
        "RetryBudget",
        "RetryLimiter",
        "RetryOn",
        "RetryPolicy",
        "RetryState",
        "Step",
        "Ticket",
        "Verdict",
        "parse_retry_after",
        "parse_retry_on",
        "shadow_authority",
    }
    for name in resilience.__all__:
        assert getattr(resilience, name) is not None
