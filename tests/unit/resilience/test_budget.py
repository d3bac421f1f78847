"""RetryBudgetPolicy and RetryLimiter: Envoy's retries resource."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from inmesh.resilience import UNLIMITED, RetryBudgetPolicy, RetryLimiter


def test_istio_defaults() -> None:
    b = RetryBudgetPolicy.from_istio(SimpleNamespace(percent=None, min_retry_concurrency=None))
    assert b == RetryBudgetPolicy(percent=20.0, min_retry_concurrency=3)
    assert RetryBudgetPolicy.from_istio(None) is None
    wrapped = RetryBudgetPolicy.from_istio(
        SimpleNamespace(percent=SimpleNamespace(value=40.0), min_retry_concurrency=5)
    )
    assert wrapped == RetryBudgetPolicy(percent=40.0, min_retry_concurrency=5)


def test_budget_arithmetic_matches_envoy_example() -> None:
    # envoyproxy/envoy#9069: 20 % with a minimum of 3 allows 5 retries at 25 active
    # requests, and still 3 at 2 active requests.
    b = RetryBudgetPolicy()
    assert b.allowed(25) == 5
    assert b.allowed(2) == 3
    assert b.allowed(0) == 3
    assert b.allowed(19) == 3  # 3.8 truncates to 3
    assert b.allowed(100) == 20


@given(
    percent=st.floats(min_value=0, max_value=100),
    minimum=st.integers(0, 50),
    active=st.integers(0, 10_000),
)
def test_budget_is_max_of_share_and_floor(percent: float, minimum: int, active: int) -> None:
    b = RetryBudgetPolicy(percent=percent, min_retry_concurrency=minimum)
    assert b.allowed(active) == max(minimum, int(percent / 100 * active))


def test_limiter_without_budget_is_max_retries() -> None:
    lim = RetryLimiter(max_retries=2)
    assert lim.try_acquire() and lim.try_acquire()
    assert not lim.try_acquire()
    assert lim.active == 2
    lim.release()
    assert lim.try_acquire()


def test_limiter_default_is_unlimited() -> None:
    lim = RetryLimiter()
    assert lim.limit() == UNLIMITED
    assert all(lim.try_acquire() for _ in range(1000))


def test_budget_overrides_max_retries_and_follows_active_requests() -> None:
    active = [0]
    lim = RetryLimiter(max_retries=0, budget=RetryBudgetPolicy(), active_requests=lambda: active[0])
    assert [lim.try_acquire() for _ in range(4)] == [True, True, True, False]
    active[0] = 50  # 20 % of 50 = 10
    assert sum(lim.try_acquire() for _ in range(10)) == 7
    for _ in range(10):
        lim.release()
    assert lim.active == 0
    lim.release()  # an extra release never goes below zero
    assert lim.active == 0
