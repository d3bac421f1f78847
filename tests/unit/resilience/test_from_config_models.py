"""Every ``from_istio`` against the real config models (parsed from Istio's YAML shape)."""

from __future__ import annotations

from inmesh.config import (
    ConnectionPoolSettings,
    HTTPFaultInjection,
    HTTPRetry,
    HTTPRoute,
    OutlierDetection,
    RetryBudget,
)
from inmesh.resilience import (
    Deadline,
    FaultPolicy,
    MirrorPolicy,
    OutlierPolicy,
    PoolLimits,
    RetryOn,
    RetryPolicy,
)
from inmesh.resilience import RetryBudgetPolicy as Budget


def test_http_retry() -> None:
    r = HTTPRetry.model_validate(
        {
            "attempts": 3,
            "retryOn": "gateway-error,409",
            "perTryTimeout": "2s",
            "backoff": "100ms",
            "retryIgnorePreviousHosts": False,
        }
    )
    p = RetryPolicy.from_istio(r)
    assert p.num_retries == 3
    assert p.retry_on == (RetryOn.GATEWAY_ERROR | RetryOn.RETRIABLE_STATUS_CODES)
    assert p.retriable_status_codes == {409}
    assert (p.per_try_timeout, p.base_interval) == (2.0, 0.1)
    assert not p.retry_ignore_previous_hosts


def test_route_timeout_and_deadline() -> None:
    route = HTTPRoute.model_validate(
        {
            "route": [{"destination": {"host": "reviews"}}],
            "timeout": "3s",
            "retries": {"attempts": 2, "perTryTimeout": "1s"},
        }
    )
    policy = RetryPolicy.from_istio(route.retries)
    d = Deadline(start=0.0, route_timeout=route.timeout, per_try_timeout=policy.per_try_timeout)
    assert d.attempt_timeout(0.0) == 1.0
    assert d.attempt_timeout(2.5) == 0.5


def test_fault() -> None:
    f = HTTPFaultInjection.model_validate(
        {"delay": {"fixedDelay": "5s", "percentage": {"value": 10}}, "abort": {"httpStatus": 503}}
    )
    assert FaultPolicy.from_istio(f) == FaultPolicy(
        delay=5.0, delay_per_million=100_000, abort_status=503, abort_per_million=0
    )


def test_mirror() -> None:
    route = HTTPRoute.model_validate(
        {
            "route": [{"destination": {"host": "a"}}],
            "mirror": {"host": "b"},
            "mirrorPercentage": {"value": 12.5},
        }
    )
    assert MirrorPolicy.from_istio(route.mirror_percentage, route.mirror_percent) == MirrorPolicy(
        125_000
    )
    unset = HTTPRoute.model_validate(
        {"route": [{"destination": {"host": "a"}}], "mirror": {"host": "b"}}
    )
    assert MirrorPolicy.from_istio(unset.mirror_percentage, unset.mirror_percent) == MirrorPolicy(
        1_000_000
    )


def test_outlier_detection() -> None:
    o = OutlierDetection.model_validate(
        {
            "consecutive5xxErrors": 3,
            "interval": "1s",
            "baseEjectionTime": "15s",
            "maxEjectionPercent": 100,
            "minHealthPercent": 20,
        }
    )
    assert OutlierPolicy.from_istio(o) == OutlierPolicy(
        consecutive_5xx=3,
        interval=1.0,
        base_ejection_time=15.0,
        max_ejection_percent=100.0,
        min_health_percent=20.0,
    )


def test_connection_pool_and_budget() -> None:
    c = ConnectionPoolSettings.model_validate(
        {
            "tcp": {"maxConnections": 1, "connectTimeout": "250ms"},
            "http": {"http1MaxPendingRequests": 1, "maxRetries": 2},
        }
    )
    limits = PoolLimits.from_istio(c)
    assert (limits.max_connections, limits.max_pending_requests, limits.max_retries) == (1, 1, 2)
    assert limits.connect_timeout == 0.25
    assert Budget.from_istio(RetryBudget.model_validate({"percent": 30})) == Budget(30.0, 3)
