"""One classification of outcomes for retries, outlier detection and stats."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inmesh.resilience import CLASSIFIER, LocalFailure, Verdict


@given(st.integers(min_value=100, max_value=499))
def test_statuses_below_500_are_success(status: int) -> None:
    assert CLASSIFIER.classify(status) is Verdict.SUCCESS


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors(status: int) -> None:
    assert CLASSIFIER.classify(status) is Verdict.GATEWAY_ERROR


@pytest.mark.parametrize("status", [500, 501, 505, 599])
def test_other_5xx_are_server_errors(status: int) -> None:
    assert CLASSIFIER.classify(status) is Verdict.SERVER_ERROR


def test_local_failures_are_local_origin_except_overflow() -> None:
    for failure in LocalFailure:
        expected = Verdict.IGNORED if failure is LocalFailure.OVERFLOW else Verdict.LOCAL_ORIGIN
        assert CLASSIFIER.classify(failure) is expected


def test_equivalent_status_follows_envoy_result_to_http_code() -> None:
    # Envoy: LocalOriginTimeout -> 504, LocalOriginConnectFailed (and resets) -> 503.
    assert CLASSIFIER.equivalent_status(LocalFailure.TIMEOUT) == 504
    for failure in (
        LocalFailure.CONNECT_FAILURE,
        LocalFailure.CONNECT_TIMEOUT,
        LocalFailure.RESET_BEFORE_HEADERS,
        LocalFailure.RESET_AFTER_REQUEST_SENT,
        LocalFailure.REFUSED_STREAM,
    ):
        assert CLASSIFIER.equivalent_status(failure) == 503


def test_local_replies_carry_envoy_flags() -> None:
    flags = {f: CLASSIFIER.local_reply(f).flag for f in LocalFailure}
    assert flags == {
        LocalFailure.CONNECT_FAILURE: "UF",
        LocalFailure.CONNECT_TIMEOUT: "UF",
        LocalFailure.RESET_BEFORE_HEADERS: "UC",
        LocalFailure.RESET_AFTER_REQUEST_SENT: "UC",
        LocalFailure.REFUSED_STREAM: "UR",
        LocalFailure.TIMEOUT: "UT",
        LocalFailure.OVERFLOW: "UO",
    }
    assert CLASSIFIER.local_reply(LocalFailure.TIMEOUT).status == 504


def test_out_of_range_status_is_not_an_error() -> None:
    assert CLASSIFIER.classify(700) is Verdict.SUCCESS
