"""RetryState: the per-request retry loop as a state machine."""

from __future__ import annotations

import email.utils
import random

import pytest

from inmesh.resilience import (
    DEFAULT_RETRY_POLICY,
    NO_RETRIES,
    Deadline,
    LocalFailure,
    RetryBudgetPolicy,
    RetryLimiter,
    RetryPolicy,
    RetryState,
    Step,
    parse_retry_after,
    parse_retry_on,
)

EPOCH = 1_700_000_000.0


def state(policy: RetryPolicy = DEFAULT_RETRY_POLICY, **kw: object) -> RetryState:
    kw.setdefault("rng", random.Random(1))
    kw.setdefault("wall_clock", lambda: EPOCH)
    return RetryState(policy, **kw)  # type: ignore[arg-type]


def policy(retry_on: str, retries: int = 2, **kw: object) -> RetryPolicy:
    flags, codes = parse_retry_on(retry_on)
    return RetryPolicy(num_retries=retries, retry_on=flags, retriable_status_codes=codes, **kw)  # type: ignore[arg-type]


def test_success_first_time() -> None:
    s = state()
    assert s.begin(0.0) is None
    s.sent_to("a:80")
    assert s.decide(200, now=0.1, headers=[]) is Step.DONE
    assert s.attempts == 1 and s.retries == 0 and s.flag is None
    assert s.excluding(frozenset({"x:1"})) == frozenset({"x:1"})


def test_default_policy_answers_503_without_retry() -> None:
    s = state()
    s.sent_to("a:80")
    assert s.decide(503, now=0.0, headers=[]) is Step.DONE


def test_default_policy_retries_connect_failure_on_another_host() -> None:
    s = state()
    s.sent_to("a:80")
    assert s.decide(LocalFailure.CONNECT_FAILURE, now=0.0) is Step.RETRY
    assert 0 <= s.delay < 0.025
    assert s.excluding(frozenset()) == {"a:80"}
    ejected = frozenset({"e:80"})
    assert s.excluding(ejected) == {"a:80", "e:80"}
    assert s.excluding(ejected) is s.excluding(ejected)  # cached
    s.sent_to("b:80")
    assert s.decide(LocalFailure.CONNECT_FAILURE, now=0.1) is Step.RETRY
    assert s.delay < 0.05
    s.sent_to("c:80")
    # attempts = 1 + 2 retries: the third failure ends the request, flag URX.
    assert s.decide(LocalFailure.CONNECT_FAILURE, now=0.2) is Step.GIVE_UP
    assert s.flag == "URX"
    assert s.attempts == 3 and s.retries == 2


def test_previous_hosts_kept_when_policy_allows() -> None:
    s = state(RetryPolicy(retry_ignore_previous_hosts=False))
    s.sent_to("a:80")
    assert s.decide(LocalFailure.CONNECT_FAILURE, now=0.0) is Step.RETRY
    assert s.excluding(frozenset()) == frozenset()


def test_no_retries_policy() -> None:
    s = state(NO_RETRIES)
    s.sent_to("a:80")
    assert s.decide(LocalFailure.CONNECT_FAILURE, now=0.0) is Step.DONE
    assert s.flag is None


def test_at_most_one_plus_attempts_tries() -> None:
    p = policy("5xx", retries=4)
    s = state(p)
    steps = []
    for i in range(10):
        s.sent_to(f"h{i}:80")
        step = s.decide(500, now=float(i), headers=[])
        steps.append(step)
        if step is not Step.RETRY:
            break
    assert steps == [Step.RETRY] * 4 + [Step.GIVE_UP]
    assert s.attempts == 5


def test_budget_overflow_is_uo_and_slots_are_released() -> None:
    limiter = RetryLimiter(budget=RetryBudgetPolicy(percent=0, min_retry_concurrency=1))
    a = state(policy("5xx"), limiter=limiter)
    b = state(policy("5xx"), limiter=limiter)
    a.sent_to("x:1")
    b.sent_to("y:1")
    assert a.decide(503, now=0.0, headers=[]) is Step.RETRY
    assert limiter.active == 1
    assert b.decide(503, now=0.0, headers=[]) is Step.GIVE_UP
    assert b.flag == "UO"
    # The retried attempt's outcome releases the slot (Envoy's resetRetry).
    a.sent_to("z:1")
    assert a.decide(200, now=0.1, headers=[]) is Step.DONE
    assert limiter.active == 0
    b.close()
    assert limiter.active == 0


def test_close_releases_a_held_slot() -> None:
    limiter = RetryLimiter(max_retries=1)
    s = state(policy("5xx"), limiter=limiter)
    s.sent_to("x:1")
    assert s.decide(503, now=0.0, headers=[]) is Step.RETRY
    assert limiter.active == 1
    s.close()
    s.close()
    assert limiter.active == 0


class Highest(random.Random):
    """Always draws the largest value: the longest back-off."""

    def randrange(self, start: int, *args: object, **kw: object) -> int:
        return start - 1

    def random(self) -> float:
        return 0.999999


def test_global_deadline_during_backoff_is_a_timeout() -> None:
    p = policy("5xx", base_interval=1.0)
    s = state(p, deadline=Deadline(start=0.0, route_timeout=1.0), rng=Highest())
    s.sent_to("a:1")
    # 0.999 s back-off, 0.5 s left: Envoy's global timeout fires during the back-off.
    assert s.decide(503, now=0.5, headers=[]) is Step.TIMEOUT
    assert s.delay == 0.5
    fits = state(p, deadline=Deadline(start=0.0, route_timeout=10.0), rng=Highest())
    fits.sent_to("a:1")
    assert fits.decide(503, now=0.5, headers=[]) is Step.RETRY
    assert fits.delay == 0.999


def test_deadline_already_passed() -> None:
    s = state(policy("5xx"), deadline=Deadline(start=0.0, route_timeout=1.0))
    assert s.begin(2.0) == 0.0
    s.sent_to("a:1")
    assert s.decide(LocalFailure.TIMEOUT, now=2.0) is Step.TIMEOUT
    assert s.delay == 0.0


def test_per_try_timeout_is_retried_under_5xx() -> None:
    p = policy("5xx", per_try_timeout=0.5)
    s = state(p, deadline=Deadline(start=0.0, route_timeout=10.0, per_try_timeout=0.5))
    assert s.begin(0.0) == 0.5
    s.sent_to("a:1")
    assert s.decide(LocalFailure.TIMEOUT, now=0.5) is Step.RETRY


def test_retry_after_seconds() -> None:
    s = state(policy("503"), rng=random.Random(2))
    s.sent_to("a:1")
    assert s.decide(503, now=0.0, headers=[(b"Retry-After", b"2")]) is Step.RETRY
    assert 2.0 <= s.delay < 3.0  # Envoy's lower-bound jitter: [v, 1.5 v)


def test_retry_after_http_date() -> None:
    s = state(policy("503"), rng=random.Random(2))
    s.sent_to("a:1")
    date = email.utils.formatdate(EPOCH + 4, usegmt=True)
    assert s.decide(503, now=0.0, headers={"retry-after": date}) is Step.RETRY
    assert 4.0 <= s.delay < 6.0


def test_retry_after_too_long_falls_back_to_backoff() -> None:
    s = state(policy("503"))
    s.sent_to("a:1")
    assert s.decide(503, now=0.0, headers=[(b"retry-after", b"301")]) is Step.RETRY
    assert s.delay < 0.025


def test_retry_after_beyond_deadline_times_out_at_the_deadline() -> None:
    s = state(policy("503"), deadline=Deadline(start=0.0, route_timeout=5.0))
    s.sent_to("a:1")
    assert s.decide(503, now=1.0, headers=[(b"retry-after", b"10")]) is Step.TIMEOUT
    assert s.delay == 4.0


def test_retry_after_ignored_on_non_retriable_response() -> None:
    s = state(policy("503"))
    s.sent_to("a:1")
    assert s.decide(500, now=0.0, headers=[(b"retry-after", b"1")]) is Step.DONE


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        (" 120 ", 120.0),
        ("garbage", None),
        ("-1", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(value: str, expected: float | None) -> None:
    assert parse_retry_after(value, now_epoch=EPOCH) == expected


def test_unreplayable_body_is_not_retried_after_sending() -> None:
    s = state(policy("5xx"))
    s.sent_to("a:1")
    assert s.decide(503, now=0.0, headers=[], body_replayable=False) is Step.DONE


def test_backoff_grows_per_retry() -> None:
    rng = random.Random(11)
    p = policy("5xx", retries=6)
    maxima = [0.0] * 6
    for _ in range(300):
        s = state(p, rng=rng)
        for n in range(6):
            s.sent_to(f"h{n}:1")
            assert s.decide(500, now=0.0, headers=[]) is Step.RETRY
            maxima[n] = max(maxima[n], s.delay)
    bounds = [0.025, 0.05, 0.1, 0.2, 0.25, 0.25]
    assert all(m < b for m, b in zip(maxima, bounds, strict=True))
    assert maxima[3] > 0.1  # the interval really doubled


def test_attempt_cut_by_route_deadline_is_never_retried() -> None:
    limiter = RetryLimiter()
    s = state(policy("5xx,reset"), deadline=Deadline(start=0.0, route_timeout=1.0), limiter=limiter)
    s.sent_to("a:1")
    assert s.decide(LocalFailure.TIMEOUT, now=1.0) is Step.TIMEOUT
    assert s.delay == 0.0 and s.retries == 0 and limiter.active == 0
