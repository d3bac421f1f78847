"""Deadline: route timeout covers all attempts; per-try and client limits; shortest wins."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from inmesh.resilience import UNBOUNDED, Deadline

limits = st.one_of(st.none(), st.just(0.0), st.floats(min_value=0.001, max_value=1000))


def test_no_limits_means_unbounded() -> None:
    d = Deadline(start=100.0)
    assert d.attempt_timeout(1e9) is None
    assert d.remaining(1e9) is None
    assert not d.expired(1e9)
    assert UNBOUNDED.attempt_timeout(5.0) is None


def test_zero_disables_like_envoy() -> None:
    d = Deadline(start=0.0, route_timeout=0.0, per_try_timeout=0.0)
    assert d.attempt_timeout(10.0) is None


def test_route_timeout_includes_retries() -> None:
    # Envoy: a 3 s route timeout and a first attempt of 2.7 s leave 0.3 s for the retry.
    d = Deadline(start=10.0, route_timeout=3.0)
    assert abs(d.attempt_timeout(12.7) - 0.3) < 1e-9  # type: ignore[operator]
    assert d.attempt_timeout(13.0) == 0.0
    assert d.expired(13.0)


def test_per_try_timeout_bounds_each_attempt() -> None:
    d = Deadline(start=0.0, route_timeout=10.0, per_try_timeout=2.0)
    assert d.attempt_timeout(0.0) == 2.0
    assert d.attempt_timeout(9.0) == 1.0
    assert Deadline(start=0.0, per_try_timeout=2.0).attempt_timeout(50.0) == 2.0


@given(route=limits, per_try=limits, elapsed=st.floats(min_value=0, max_value=2000))
def test_attempt_timeout_is_the_minimum(
    route: float | None, per_try: float | None, elapsed: float
) -> None:
    d = Deadline(start=5.0, route_timeout=route, per_try_timeout=per_try)
    candidates = [x for x in (per_try,) if x]
    overall = [x for x in (route,) if x]
    if overall:
        candidates.append(max(0.0, min(overall) - elapsed))
    got = d.attempt_timeout(5.0 + elapsed)
    if not candidates:
        assert got is None
    else:
        assert got is not None
        assert abs(got - max(0.0, min(candidates))) < 1e-6
