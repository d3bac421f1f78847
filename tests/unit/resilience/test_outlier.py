"""OutlierDetector: Envoy's consecutive-error ejection, sweeps, decay and limits."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inmesh.resilience import LocalFailure, OutlierDetector, OutlierPolicy

HOSTS = [f"10.0.0.{i}:80" for i in range(10)]
A = HOSTS[0]


def detector(hosts: list[str] = HOSTS, **kw: object) -> OutlierDetector:
    return OutlierDetector(OutlierPolicy(**kw), hosts, now=0.0)  # type: ignore[arg-type]


def od(**kw: object) -> SimpleNamespace:
    base: dict[str, object] = {
        "consecutive_5xx_errors": None,
        "consecutive_gateway_errors": None,
        "consecutive_local_origin_failures": None,
        "split_external_local_origin_errors": False,
        "interval": None,
        "base_ejection_time": None,
        "max_ejection_percent": 0,
        "min_health_percent": 0,
    }
    base.update(kw)
    return SimpleNamespace(**base)


def test_istio_defaults() -> None:
    p = OutlierPolicy.from_istio(od())
    assert p == OutlierPolicy(
        consecutive_5xx=5,
        consecutive_gateway=0,
        consecutive_local_origin=5,
        interval=10.0,
        base_ejection_time=30.0,
        max_ejection_time=300.0,
        max_ejection_percent=10.0,
        min_health_percent=0.0,
    )
    assert OutlierPolicy.from_istio(None) is None


def test_from_istio_values() -> None:
    p = OutlierPolicy.from_istio(
        od(
            consecutive_5xx_errors=0,
            consecutive_gateway_errors=3,
            consecutive_local_origin_failures=0,
            split_external_local_origin_errors=True,
            interval=1.0,
            base_ejection_time=400.0,
            max_ejection_percent=50,
            min_health_percent=30,
        )
    )
    assert p is not None
    assert p.consecutive_5xx == 0 and p.consecutive_gateway == 3
    assert p.consecutive_local_origin == 5  # Istio sets it only when positive
    assert p.split_external_local_origin_errors
    assert p.max_ejection_time == 400.0  # the base when larger than 300 s
    assert (p.interval, p.max_ejection_percent, p.min_health_percent) == (1.0, 50.0, 30.0)


@given(n=st.integers(min_value=1, max_value=20))
def test_ejected_after_exactly_n_consecutive_5xx(n: int) -> None:
    d = detector(consecutive_5xx=n)
    for i in range(n - 1):
        d.record(A, 500, float(i) * 0.001)
        assert not d.is_ejected(A, 0.0)
    d.record(A, 500, 0.5)
    assert d.is_ejected(A, 0.5)
    assert d.ejected_keys(0.5) == {A}


def test_a_success_in_between_resets() -> None:
    d = detector()
    for status in (500, 503, 502, 501, 404, 500, 500, 500, 500):
        d.record(A, status, 0.0)
    assert not d.is_ejected(A, 0.0)
    d.record(A, 500, 0.0)
    assert d.is_ejected(A, 0.0)


def test_local_failures_count_as_5xx_without_split() -> None:
    d = detector()
    for f in (
        LocalFailure.CONNECT_FAILURE,
        LocalFailure.TIMEOUT,
        LocalFailure.REFUSED_STREAM,
        LocalFailure.RESET_AFTER_REQUEST_SENT,
    ):
        d.record(A, f, 0.0)
    d.record(A, LocalFailure.OVERFLOW, 0.0)  # the mesh's own overflow counts for nothing
    assert not d.is_ejected(A, 0.0)
    d.record(A, 503, 0.0)
    assert d.is_ejected(A, 0.0)


def test_gateway_errors_when_enabled() -> None:
    d = detector(consecutive_5xx=0, consecutive_gateway=3)
    for status in (502, 503, 500):  # a non-gateway 5xx resets the gateway count
        d.record(A, status, 0.0)
    d.record(A, 504, 0.0)
    d.record(A, LocalFailure.TIMEOUT, 0.0)  # 504 in Envoy's mapping
    assert not d.is_ejected(A, 0.0)
    d.record(A, LocalFailure.CONNECT_FAILURE, 0.0)  # 503
    assert d.is_ejected(A, 0.0)


def test_split_local_origin_errors() -> None:
    d = detector(
        split_external_local_origin_errors=True,
        consecutive_local_origin=2,
        consecutive_5xx=3,
        max_ejection_percent=100,
    )
    d.record(A, LocalFailure.CONNECT_FAILURE, 0.0)
    d.record(A, 500, 0.0)  # a response: the connection worked, local count resets
    d.record(A, 500, 0.0)
    d.record(A, LocalFailure.CONNECT_FAILURE, 0.0)  # local failures do not touch 5xx count
    assert not d.is_ejected(A, 0.0)
    d.record(A, LocalFailure.CONNECT_TIMEOUT, 0.0)
    assert d.is_ejected(A, 0.0)
    b = HOSTS[1]
    for _ in range(3):
        d.record(b, 503, 0.0)
    assert d.is_ejected(b, 0.0)


def test_disabled_thresholds() -> None:
    d = detector(consecutive_5xx=0)
    for _ in range(100):
        d.record(A, 503, 0.0)
    assert not d.is_ejected(A, 0.0)


def eject(d: OutlierDetector, key: str, now: float, n: int = 5) -> None:
    for _ in range(n):
        d.record(key, 500, now)


def test_returns_only_at_a_sweep_after_base_times_multiplier() -> None:
    d = detector()  # interval 10 s, base 30 s
    eject(d, A, 1.0)
    assert d.is_ejected(A, 30.9)  # sweeps at 10, 20, 30: 29 s elapsed at the 30 s sweep
    assert d.is_ejected(A, 39.9)
    assert not d.is_ejected(A, 40.0)  # the 40 s sweep sees 39 s >= 30 s
    assert d.ejected_keys(40.0) == frozenset()
    assert d.monitor(A).consecutive_5xx == 0  # type: ignore[union-attr]


def test_no_half_open_fresh_run_needed_after_return() -> None:
    d = detector()
    for _ in range(4):
        d.record(A, 500, 0.0)
    eject(d, A, 0.0, n=1)
    assert d.is_ejected(A, 0.0)
    d.record(A, 500, 1.0)  # traffic to an ejected host (e.g. panic) keeps counting
    assert not d.is_ejected(A, 40.0)
    for _ in range(4):
        d.record(A, 500, 41.0)
    assert not d.is_ejected(A, 41.0)  # counters were reset on return: 4 < 5
    d.record(A, 500, 41.0)
    assert d.is_ejected(A, 41.0)


def ejection_duration(d: OutlierDetector, start: float) -> float:
    """Eject A at ``start``; return how long after ``start`` the sweep brought it back."""
    eject(d, A, start)
    t = start
    while d.is_ejected(A, t):
        t += 1.0
    return t - start


def test_ejection_time_grows_with_count_and_caps_at_300s() -> None:
    d = detector(interval=1.0)
    durations = []
    t = 1.0
    for _ in range(13):
        took = ejection_duration(d, t)
        durations.append(took)
        t += took  # re-ejected right away: no healthy sweep in between for decay
    assert durations[:10] == [30.0 * k for k in range(1, 11)]
    assert durations[10:] == [300.0, 300.0, 300.0]
    assert d.monitor(A).num_ejections == 13  # type: ignore[union-attr]


def test_multiplier_decays_one_per_healthy_interval() -> None:
    d = detector(interval=1.0)
    t = 1.0
    for _ in range(3):
        t += ejection_duration(d, t)
    monitor = d.monitor(A)
    assert monitor is not None and monitor.multiplier == 3
    d.ejected_keys(t + 1.0)  # one healthy sweep
    assert monitor.multiplier == 2
    d.ejected_keys(t + 10.0)  # several sweeps, run lazily at once
    assert monitor.multiplier == 0
    assert ejection_duration(d, t + 10.0) == 30.0


def test_lazy_sweeps_catch_up_at_scheduled_times() -> None:
    d = detector(interval=10.0)
    eject(d, A, 1.0)
    assert d.next_tick == 10.0
    assert d.ejected_keys(1000.0) == frozenset()
    assert d.next_tick == 1010.0
    assert d.monitor(A).multiplier == 0  # type: ignore[union-attr]


def test_already_ejected_host_is_not_ejected_again() -> None:
    d = detector()
    eject(d, A, 0.0)
    eject(d, A, 1.0, n=20)
    assert d.monitor(A).num_ejections == 1  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("hosts", "percent", "ejectable"),
    [
        (10, 10, 1),
        (20, 10, 2),
        (5, 10, 0),
        (3, 50, 1),
        (3, 67, 2),
        (4, 100, 4),
        (15, 10, 1),
    ],
)
def test_max_ejection_percent(hosts: int, percent: int, ejectable: int) -> None:
    keys = [f"h{i}:1" for i in range(hosts)]
    d = detector(keys, max_ejection_percent=percent)
    for key in keys:
        eject(d, key, 0.0)
    assert d.ejections_active == ejectable


def test_always_eject_one_host() -> None:
    keys = ["a:1", "b:1", "c:1"]
    d = detector(keys, always_eject_one_host=True)  # 10 %: normally none of 3
    for key in keys:
        eject(d, key, 0.0)
    assert d.ejections_active == 1


def test_refused_ejection_resets_the_counter() -> None:
    d = detector(["a:1", "b:1"], max_ejection_percent=10)
    eject(d, "a:1", 0.0)
    assert not d.is_ejected("a:1", 0.0)
    assert d.monitor("a:1").consecutive_5xx == 0  # type: ignore[union-attr]


def test_min_health_percent_panic() -> None:
    keys = [f"h{i}:1" for i in range(4)]
    d = detector(keys, max_ejection_percent=100, min_health_percent=50)
    eject(d, keys[0], 0.0)
    eject(d, keys[1], 0.0)
    assert d.ejected_keys(0.0) == {keys[0], keys[1]}  # 50 % healthy: not below
    eject(d, keys[2], 0.0)
    assert d.ejected_keys(0.0) == frozenset()  # 25 % < 50 %: panic, use every host
    assert d.panic
    assert d.is_ejected(keys[2], 0.0)


def test_default_min_health_never_panics() -> None:
    keys = ["a:1", "b:1"]
    d = detector(keys, max_ejection_percent=100)
    for key in keys:
        eject(d, key, 0.0)
    assert d.ejected_keys(0.0) == set(keys)  # every host ejected: the balancer answers UH
    assert not d.panic


def test_ejected_keys_is_cached() -> None:
    d = detector(max_ejection_percent=100)
    eject(d, A, 0.0)
    assert d.ejected_keys(1.0) is d.ejected_keys(2.0)


def test_update_endpoints_keeps_state_of_survivors() -> None:
    d = detector(["a:1", "b:1"], max_ejection_percent=100)
    eject(d, "a:1", 0.0)
    eject(d, "b:1", 0.0)
    d.update_endpoints(["a:1", "c:1"])
    assert d.ejected_keys(0.0) == {"a:1"}
    assert d.ejections_active == 1
    d.record("zz:1", 500, 0.0)  # unknown endpoints are ignored
    assert d.monitor("c:1") is not None and d.monitor("b:1") is None
