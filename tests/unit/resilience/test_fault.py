"""FaultPolicy: Istio's HTTPFaultInjection as Envoy's fault filter applies it."""

from __future__ import annotations

import math
import random
from types import SimpleNamespace

import pytest

from inmesh._errors import ConfigError
from inmesh.resilience import ABORT_BODY, ABORT_FLAG, DELAY_FLAG, FaultPolicy


def fault(delay: object = None, abort: object = None) -> SimpleNamespace:
    return SimpleNamespace(delay=delay, abort=abort)


def delay(
    fixed: float | None = 5.0, value: float | None = None, percent: int | None = None
) -> SimpleNamespace:
    pct = None if value is None else SimpleNamespace(value=value)
    return SimpleNamespace(fixed_delay=fixed, percentage=pct, percent=percent)


def abort(status: int | None = 503, value: float | None = None, **kw: object) -> SimpleNamespace:
    pct = None if value is None else SimpleNamespace(value=value)
    return SimpleNamespace(http_status=status, percentage=pct, **kw)


def within(count: int, n: int, p: float) -> bool:
    """Binomial count within six standard deviations of its mean."""
    return abs(count - n * p) <= 6 * math.sqrt(n * p * (1 - p)) + 1


def test_flags_and_body() -> None:
    assert (DELAY_FLAG, ABORT_FLAG, ABORT_BODY) == ("DI", "FI", "fault filter abort")


def test_no_fault() -> None:
    assert FaultPolicy.from_istio(None) is None


def test_unset_percentage_injects_nothing() -> None:
    p = FaultPolicy.from_istio(fault(delay=delay(), abort=abort()))
    assert p == FaultPolicy(delay=5.0, delay_per_million=0, abort_status=503, abort_per_million=0)
    rng = random.Random(0)
    assert all(p.decide(rng) == (None, None) for _ in range(1000))


def test_full_percentage_always_injects() -> None:
    p = FaultPolicy.from_istio(fault(delay(value=100), abort(418, value=100.0)))
    assert p is not None
    assert p.decide(random.Random(1)) == (5.0, 418)


def test_legacy_integer_percent_for_delay() -> None:
    p = FaultPolicy.from_istio(fault(delay=delay(percent=25)))
    assert p is not None and p.delay_per_million == 250_000


def test_istio_truncates_to_per_million() -> None:
    p = FaultPolicy.from_istio(fault(delay=delay(value=0.00001234)))
    assert p is not None and p.delay_per_million == 0
    p = FaultPolicy.from_istio(fault(abort=abort(value=0.1)))
    assert p is not None and p.abort_per_million == 1000


@pytest.mark.parametrize(("delay_pct", "abort_pct"), [(10.0, 50.0), (0.5, 99.5), (33.3, 1.0)])
def test_percentages_statistically(delay_pct: float, abort_pct: float) -> None:
    p = FaultPolicy.from_istio(fault(delay(value=delay_pct), abort(value=abort_pct)))
    assert p is not None
    rng = random.Random(12345)
    n = 100_000
    decisions = [p.decide(rng) for _ in range(n)]
    delays = sum(d is not None for d, _ in decisions)
    aborts = sum(a is not None for _, a in decisions)
    both = sum(d is not None and a is not None for d, a in decisions)
    assert within(delays, n, delay_pct / 100)
    assert within(aborts, n, abort_pct / 100)
    # independent draws, as Envoy's fault filter makes them
    assert within(both, n, delay_pct * abort_pct / 10_000)


def test_abort_without_http_status_is_refused() -> None:
    # grpcStatus/http2Error are refused earlier, by the support table (test_support.py)
    with pytest.raises(ConfigError, match="abort needs httpStatus") as err:
        FaultPolicy.from_istio(fault(abort=abort(None, grpc_status="UNAVAILABLE")))
    assert err.value.problems[0].field == "fault.abort.httpStatus"


@pytest.mark.parametrize("status", [199, 600, 0])
def test_abort_status_range(status: int) -> None:
    with pytest.raises(ConfigError, match="between 200 and 599"):
        FaultPolicy.from_istio(fault(abort=abort(status)))


def test_delay_needs_fixed_delay_and_fault_needs_something() -> None:
    with pytest.raises(ConfigError, match="fixedDelay is required"):
        FaultPolicy.from_istio(fault(delay=delay(fixed=None)))
    with pytest.raises(ConfigError, match="abort and/or a delay"):
        FaultPolicy.from_istio(fault())
