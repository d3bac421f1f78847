"""RetryPolicy: Istio's retry translation and Envoy's retry conditions."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inmesh._errors import ConfigError
from inmesh.resilience import (
    DEFAULT_RETRY_POLICY,
    NO_RETRIES,
    LocalFailure,
    RetryOn,
    RetryPolicy,
    parse_retry_on,
)

SENT_FAILURES = (
    LocalFailure.RESET_BEFORE_HEADERS,
    LocalFailure.RESET_AFTER_REQUEST_SENT,
    LocalFailure.TIMEOUT,
)


def retries(**kw: object) -> SimpleNamespace:
    base: dict[str, object] = {
        "attempts": 3,
        "retry_on": None,
        "per_try_timeout": None,
        "retry_ignore_previous_hosts": None,
        "retry_remote_localities": None,
        "backoff": None,
    }
    base.update(kw)
    return SimpleNamespace(**base)


# -- retryOn parsing -----------------------------------------------------------------------


def test_parse_known_tokens() -> None:
    flags, codes = parse_retry_on("5xx,gateway-error, reset ,connect-failure,unavailable")
    assert flags == (
        RetryOn.SERVER_5XX
        | RetryOn.GATEWAY_ERROR
        | RetryOn.RESET
        | RetryOn.CONNECT_FAILURE
        | RetryOn.GRPC_UNAVAILABLE
    )
    assert codes == frozenset()


def test_bare_status_codes_become_retriable_status_codes() -> None:
    flags, codes = parse_retry_on("connect-failure,503,409")
    assert codes == {503, 409}
    assert flags & RetryOn.RETRIABLE_STATUS_CODES
    assert flags & RetryOn.CONNECT_FAILURE


def test_empty_parts_are_config_errors() -> None:
    # Istio's validation splits at commas and refuses an empty policy
    with pytest.raises(ConfigError, match="'' is not a valid retryOn policy"):
        parse_retry_on(",5xx")
    assert parse_retry_on(" 5xx, reset ") == (RetryOn.SERVER_5XX | RetryOn.RESET, frozenset())


def test_unknown_tokens_are_config_errors_naming_each() -> None:
    with pytest.raises(ConfigError) as err:
        parse_retry_on("5xx,retry-everything,599,gateway_error")
    text = str(err.value)
    assert "'retry-everything'" in text
    assert "'gateway_error'" in text
    assert "'599'" in text  # Go's http.StatusText does not know 599
    assert len(err.value.problems) == 3
    assert err.value.problems[0].field == "retries.retryOn"


def test_from_istio_rejects_unknown_tokens() -> None:
    with pytest.raises(ConfigError, match="not a valid retryOn policy"):
        RetryPolicy.from_istio(retries(retry_on="bogus"))


# -- Istio's translation -----------------------------------------------------------------


def test_no_retries_block_gives_istio_default() -> None:
    p = RetryPolicy.from_istio(None)
    assert p == DEFAULT_RETRY_POLICY
    assert p.num_retries == 2
    assert p.retry_on == (
        RetryOn.CONNECT_FAILURE
        | RetryOn.REFUSED_STREAM
        | RetryOn.GRPC_UNAVAILABLE
        | RetryOn.GRPC_CANCELLED
        | RetryOn.RETRIABLE_STATUS_CODES
    )
    assert p.retriable_status_codes == frozenset()  # EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY
    assert p.retry_ignore_previous_hosts
    assert p.per_try_timeout is None


def test_consistent_hash_default_keeps_previous_hosts() -> None:
    assert not RetryPolicy.from_istio(None, consistent_hash=True).retry_ignore_previous_hosts
    explicit = RetryPolicy.from_istio(
        retries(retry_ignore_previous_hosts=True), consistent_hash=True
    )
    assert explicit.retry_ignore_previous_hosts


@pytest.mark.parametrize("attempts", [0, -1])
def test_zero_attempts_disable_retries(attempts: int) -> None:
    p = RetryPolicy.from_istio(retries(attempts=attempts, retry_on="5xx"))
    assert p is NO_RETRIES
    assert not p.enabled
    assert not p.should_retry(LocalFailure.CONNECT_FAILURE)
    assert not p.should_retry(503)


def test_retries_without_retry_on_keep_default_conditions() -> None:
    p = RetryPolicy.from_istio(
        retries(
            attempts=4,
            per_try_timeout=2.0,
            backoff=0.1,
            retry_ignore_previous_hosts=False,
            retry_remote_localities=True,
        )
    )
    assert p.num_retries == 4
    assert p.retry_on == DEFAULT_RETRY_POLICY.retry_on
    assert p.per_try_timeout == 2.0
    assert p.base_interval == 0.1
    assert not p.retry_ignore_previous_hosts
    assert p.retry_remote_localities


def test_retry_on_replaces_default_and_codes() -> None:
    p = RetryPolicy.from_istio(retries(retry_on="gateway-error,409"))
    assert p.should_retry(502)
    assert p.should_retry(409)
    assert not p.should_retry(500)
    assert p.should_retry(LocalFailure.REFUSED_STREAM)  # Envoy: gateway-error retries resets
    assert not p.should_retry(LocalFailure.OVERFLOW)


# -- the default policy: never repeat a request that reached the application ---------------


@pytest.mark.parametrize("status", [500, 502, 503, 504, 409, 429])
def test_default_policy_does_not_retry_answers(status: int) -> None:
    assert not DEFAULT_RETRY_POLICY.should_retry(status, headers=[])


@pytest.mark.parametrize(
    "failure",
    [LocalFailure.CONNECT_FAILURE, LocalFailure.CONNECT_TIMEOUT, LocalFailure.REFUSED_STREAM],
)
def test_default_policy_retries_unprocessed_requests(failure: LocalFailure) -> None:
    assert DEFAULT_RETRY_POLICY.should_retry(failure)


def test_connect_failures_retry_even_with_a_consumed_body() -> None:
    assert DEFAULT_RETRY_POLICY.should_retry(LocalFailure.CONNECT_FAILURE, body_replayable=False)
    assert not DEFAULT_RETRY_POLICY.should_retry(LocalFailure.REFUSED_STREAM, body_replayable=False)


@pytest.mark.parametrize("failure", [*SENT_FAILURES, LocalFailure.OVERFLOW])
def test_default_policy_does_not_retry_resets_or_timeouts(failure: LocalFailure) -> None:
    assert not DEFAULT_RETRY_POLICY.should_retry(failure)


@pytest.mark.parametrize("code", ["14", "1"])
def test_default_policy_retries_grpc_unavailable_and_cancelled(code: str) -> None:
    raw = [(b"content-type", b"application/grpc"), (b"Grpc-Status", code.encode())]
    assert DEFAULT_RETRY_POLICY.should_retry(200, headers=raw)
    assert DEFAULT_RETRY_POLICY.should_retry(200, headers={"grpc-status": code})
    assert not DEFAULT_RETRY_POLICY.should_retry(200, headers=[(b"grpc-status", b"13")])


# -- Envoy's conditions ---------------------------------------------------------------------


def policy(retry_on: str) -> RetryPolicy:
    flags, codes = parse_retry_on(retry_on)
    return RetryPolicy(num_retries=3, retry_on=flags, retriable_status_codes=codes)


@given(st.integers(min_value=500, max_value=599))
def test_5xx_retries_every_5xx(status: int) -> None:
    assert policy("5xx").should_retry(status)


def test_gateway_error_only_502_503_504() -> None:
    p = policy("gateway-error")
    assert [s for s in range(400, 600) if p.should_retry(s)] == [502, 503, 504]


def test_retriable_4xx_is_409_only() -> None:
    p = policy("retriable-4xx")
    assert [s for s in range(400, 600) if p.should_retry(s)] == [409]


def test_retriable_status_codes_without_codes_matches_nothing() -> None:
    assert not any(policy("retriable-status-codes").should_retry(s) for s in range(100, 600))


@pytest.mark.parametrize("retry_on", ["5xx", "gateway-error", "reset"])
def test_resets_and_per_try_timeouts_retry_under_5xx_gateway_reset(retry_on: str) -> None:
    p = policy(retry_on)
    for failure in LocalFailure:
        assert p.should_retry(failure) is (failure is not LocalFailure.OVERFLOW)


def test_connect_failure_covers_connect_errors_only() -> None:
    p = policy("connect-failure")
    assert p.should_retry(LocalFailure.CONNECT_FAILURE)
    assert p.should_retry(LocalFailure.CONNECT_TIMEOUT)
    for failure in (*SENT_FAILURES, LocalFailure.REFUSED_STREAM):
        assert not p.should_retry(failure)


def test_refused_stream() -> None:
    p = policy("refused-stream")
    assert p.should_retry(LocalFailure.REFUSED_STREAM)
    assert not p.should_retry(LocalFailure.RESET_BEFORE_HEADERS)


def test_reset_before_request_depends_on_request_sent() -> None:
    p = policy("reset-before-request")
    assert p.should_retry(LocalFailure.CONNECT_FAILURE)  # never sent, whatever the flag says
    assert p.should_retry(LocalFailure.RESET_BEFORE_HEADERS, request_sent=False)
    assert not p.should_retry(LocalFailure.RESET_BEFORE_HEADERS, request_sent=True)
    assert not p.should_retry(LocalFailure.RESET_AFTER_REQUEST_SENT, request_sent=False)
    assert not p.should_retry(LocalFailure.TIMEOUT, request_sent=False)


def test_overflow_is_never_retried() -> None:
    p = policy("5xx,reset,reset-before-request,connect-failure,refused-stream")
    assert not p.should_retry(LocalFailure.OVERFLOW, request_sent=False)


def test_unreplayable_body_only_retries_what_never_left() -> None:
    p = policy("5xx")
    assert not p.should_retry(503, body_replayable=False)
    assert not p.should_retry(LocalFailure.RESET_AFTER_REQUEST_SENT, body_replayable=False)
    assert p.should_retry(LocalFailure.CONNECT_FAILURE, body_replayable=False)


def test_envoy_ratelimited_header() -> None:
    limited = [(b"x-envoy-ratelimited", b"true")]
    assert not policy("5xx").should_retry(503, headers=limited)
    assert policy("5xx").should_retry(503, headers=[])
    assert policy("envoy-ratelimited").should_retry(429, headers=limited)
    assert not policy("envoy-ratelimited").should_retry(429, headers=[])


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("cancelled", "1"),
        ("deadline-exceeded", "4"),
        ("resource-exhausted", "8"),
        ("internal", "13"),
        ("unavailable", "14"),
    ],
)
def test_grpc_conditions(token: str, code: str) -> None:
    p = policy(token)
    assert p.should_retry(200, headers=[(b"grpc-status", code.encode())])
    assert not p.should_retry(200, headers=[(b"grpc-status", b"0")])
    assert not p.should_retry(200, headers=[])
    assert not p.should_retry(200)


def test_retriable_headers_and_http3_never_fire() -> None:
    p = policy("retriable-headers,http3-post-connect-failure")
    assert not any(p.should_retry(s, headers=[(b"x-any", b"1")]) for s in (200, 503))
    assert not any(p.should_retry(f) for f in LocalFailure)


# -- back-off ------------------------------------------------------------------------------


@given(
    base_ms=st.integers(min_value=1, max_value=500),
    retry=st.integers(min_value=1, max_value=12),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_backoff_bounds(base_ms: int, retry: int, seed: int) -> None:
    base = base_ms / 1000
    p = RetryPolicy(base_interval=base)
    delay = p.backoff(retry, random.Random(seed))
    cap = 10 * base
    # Envoy's JitteredExponentialBackOffStrategy: uniform in [0, interval) whole ms, the
    # interval doubling from the base up to the maximum (10 x base) ...
    assert 0 <= delay < min(cap, 2 ** (retry - 1) * base) + 1e-9
    # ... inside the router docs' [0, (2^N - 1) B), capped at the maximum.
    assert delay <= min(cap, (2**retry - 1) * base) + 1e-9
    assert round(delay * 1000, 6) == int(round(delay * 1000, 6))


def test_backoff_default_is_25ms_base_and_250ms_cap() -> None:
    rng = random.Random(7)
    first = [DEFAULT_RETRY_POLICY.backoff(1, rng) for _ in range(2000)]
    assert min(first) >= 0 and max(first) < 0.025
    late = [DEFAULT_RETRY_POLICY.backoff(10, rng) for _ in range(2000)]
    assert max(late) < 0.25
    assert max(late) > 0.2  # the interval did reach the cap


def test_backoff_explicit_max_interval() -> None:
    p = RetryPolicy(base_interval=0.1, max_interval=0.15)
    rng = random.Random(3)
    assert max(p.backoff(5, rng) for _ in range(500)) < 0.15


def test_header_value_first_value_any_case() -> None:
    from inmesh.resilience._retry import header_value

    headers = [(b"Content-Type", b"x"), (b"GRPC-Status", b"14"), (b"grpc-status", b"0")]
    assert header_value(headers, b"grpc-status") == "14"
    assert header_value(headers, b"content-type") == "x"
    assert header_value(headers, b"retry-after") is None
    assert header_value([], b"grpc-status") is None
    # the joined names contain it, no single name is it: still absent
    assert header_value([(b"grpc", b"1"), (b"status", b"2")], b"grpc\nstatus") is None
    assert header_value([(b"x-grpc-status-y", b"1")], b"grpc-status") is None
