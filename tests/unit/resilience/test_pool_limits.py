"""PoolLimits and PoolGate: Istio's connectionPool thresholds as admission counters."""

from __future__ import annotations

from types import SimpleNamespace

from inmesh.resilience import UNLIMITED, PoolGate, PoolLimits, RetryBudgetPolicy, RetryLimiter


def pool(tcp: dict[str, object] | None = None, http: dict[str, object] | None = None) -> object:
    return SimpleNamespace(
        tcp=SimpleNamespace(**tcp) if tcp is not None else None,
        http=SimpleNamespace(**http) if http is not None else None,
    )


def test_istio_defaults_are_unlimited() -> None:
    limits = PoolLimits.from_istio(None)
    assert limits.max_connections == limits.max_pending_requests == UNLIMITED == 2**32 - 1
    assert limits.max_requests == limits.max_retries == UNLIMITED
    assert limits.connect_timeout == 10.0
    assert limits.idle_timeout == 3600.0
    assert limits.max_requests_per_connection == 0
    empty = PoolLimits.from_istio(pool({}, {}))
    assert empty == limits


def test_zero_means_default_as_in_istio() -> None:
    limits = PoolLimits.from_istio(
        pool({"max_connections": 0}, {"http1_max_pending_requests": 0, "max_retries": 0})
    )
    assert limits.max_connections == limits.max_pending_requests == UNLIMITED
    assert limits.max_retries == UNLIMITED


def test_from_istio_reads_every_field() -> None:
    limits = PoolLimits.from_istio(
        pool(
            {"max_connections": 1, "connect_timeout": 0.5, "idle_timeout": 60.0},
            {
                "http1_max_pending_requests": 2,
                "http2_max_requests": 10,
                "max_retries": 3,
                "max_requests_per_connection": 1,
                "idle_timeout": 0.0,
            },
        )
    )
    assert limits == PoolLimits(
        max_connections=1,
        max_pending_requests=2,
        max_requests=10,
        max_requests_per_connection=1,
        max_retries=3,
        connect_timeout=0.5,
        idle_timeout=None,
        tcp_idle_timeout=60.0,
    )


def test_default_gate_admits_everything() -> None:
    gate = PoolGate()
    tickets = [gate.try_acquire() for _ in range(10_000)]
    assert all(t is not None for t in tickets)
    assert gate.inflight == 10_000


def test_http1_connections_plus_pending() -> None:
    # Istio's circuit-breaking task: maxConnections 1, http1MaxPendingRequests 1.
    gate = PoolGate(PoolLimits(max_connections=1, max_pending_requests=1))
    first, second = gate.try_acquire(), gate.try_acquire()
    assert first is not None and second is not None
    assert gate.try_acquire() is None  # overflow: 503, flag UO
    first.release()
    third = gate.try_acquire()
    assert third is not None
    assert gate.inflight == 2


def test_max_requests_applies_to_both_protocols() -> None:
    limits = PoolLimits(max_requests=3, max_connections=1, max_pending_requests=100)
    for http2 in (False, True):
        gate = PoolGate(limits, http2=http2)
        admitted = [gate.try_acquire() for _ in range(5)]
        assert sum(t is not None for t in admitted) == 3


def test_http2_ignores_connection_limits() -> None:
    gate = PoolGate(PoolLimits(max_connections=1, max_pending_requests=1), http2=True)
    assert sum(gate.try_acquire() is not None for _ in range(50)) == 50


def test_inflight_reader_feeds_the_retry_budget() -> None:
    gate = PoolGate()
    lim = RetryLimiter(
        budget=RetryBudgetPolicy(percent=50, min_retry_concurrency=0),
        active_requests=gate.inflight_reader(),
    )
    assert not lim.try_acquire()
    for _ in range(4):
        gate.try_acquire()
    assert lim.try_acquire() and lim.try_acquire()
    assert not lim.try_acquire()
