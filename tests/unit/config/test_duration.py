"""Istio/Go duration strings <-> float seconds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from inmesh.config import HTTPRetry, HTTPRoute, format_duration, parse_duration
from inmesh.config._duration import parse_duration_ns


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10s", 10.0),
        ("0.5s", 0.5),
        ("1.5s", 1.5),
        ("100ms", 0.1),
        ("1m", 60.0),
        ("1h30m", 5400.0),
        ("1h0m0.25s", 3600.25),
        ("250us", 0.00025),
        ("250\u00b5s", 0.00025),
        ("7ns", 7e-9),
        (".5s", 0.5),
        ("0", 0.0),
        ("+2s", 2.0),
    ],
)
def test_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10", "s", "10 s", "10sec", "1.2.3s", "10S", "1d", "ms5"])
def test_parse_rejects_malformed(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_parse_rejects_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        parse_duration("-1s")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (10.0, "10s"),
        (0.5, "0.5s"),
        (7, "7s"),
        (0.001, "0.001s"),
        (0.1, "0.1s"),
        (3600.25, "3600.25s"),
        (1e-9, "0.000000001s"),
    ],
)
def test_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(min_value=0, max_value=10**15))
def test_nanosecond_round_trip(nanos: int) -> None:
    seconds = nanos / 1_000_000_000
    assert parse_duration(format_duration(seconds)) == seconds
    assert parse_duration_ns(format_duration(seconds)) == nanos


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False))
def test_format_then_parse_is_stable(seconds: float) -> None:
    once = format_duration(seconds)
    assert format_duration(parse_duration(once)) == once


def test_model_field_parses_strings_to_seconds() -> None:
    retry = HTTPRetry.model_validate({"attempts": 2, "perTryTimeout": "1.5s", "backoff": "25ms"})
    assert retry.per_try_timeout == 1.5
    assert retry.backoff == 0.025


def test_python_callers_may_pass_seconds() -> None:
    assert HTTPRetry(attempts=1, per_try_timeout=2).per_try_timeout == 2.0


def test_documents_must_use_strings() -> None:
    with pytest.raises(ValidationError, match="a string"):
        HTTPRetry.model_validate(
            {"attempts": 1, "perTryTimeout": 2}, context={"inmesh_source": "document"}
        )


def test_istio_minimum_of_one_millisecond() -> None:
    # Istio's CRDs: duration(self) >= duration('1ms') on every Duration field.
    with pytest.raises(ValidationError, match="greater than 1ms"):
        HTTPRetry.model_validate({"attempts": 1, "backoff": "0s"})


def test_millisecond_precision_where_istio_demands_it() -> None:
    # validation.go ValidateDuration on route timeouts: "only durations to ms precision".
    with pytest.raises(ValidationError, match="ms precision"):
        HTTPRoute.model_validate({"route": [{"destination": {"host": "a"}}], "timeout": "1500us"})


def test_dump_writes_istio_strings() -> None:
    route = HTTPRoute.model_validate({"route": [{"destination": {"host": "a"}}], "timeout": "1m"})
    assert route.model_dump(mode="json", by_alias=True, exclude_none=True)["timeout"] == "60s"
    assert route.model_dump()["timeout"] == 60.0
