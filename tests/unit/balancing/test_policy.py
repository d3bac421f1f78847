"""BalancerPolicy: Envoy's defaults and limits, Istio's names for the policies."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inmesh._errors import ConfigError
from inmesh.balancing import BalancerPolicy, balancer_kind
from inmesh.balancing._policy import is_prime


def test_defaults_are_envoys() -> None:
    p = BalancerPolicy()
    assert p.kind == "LEAST_REQUEST"
    assert p.minimum_ring_size == 1024
    assert p.maximum_ring_size == 8 * 1024 * 1024
    assert p.maglev_table_size == 65537
    assert p.choice_count == 2


@pytest.mark.parametrize(
    ("simple", "kind"),
    [
        (None, "LEAST_REQUEST"),
        ("UNSPECIFIED", "LEAST_REQUEST"),
        ("LEAST_CONN", "LEAST_REQUEST"),
        ("LEAST_REQUEST", "LEAST_REQUEST"),
        ("ROUND_ROBIN", "ROUND_ROBIN"),
        ("RANDOM", "RANDOM"),
        ("RING_HASH", "RING_HASH"),
        ("MAGLEV", "MAGLEV"),
    ],
)
def test_istio_names(simple: str | None, kind: str) -> None:
    assert balancer_kind(simple) == kind


def test_passthrough_is_rejected_with_the_field() -> None:
    with pytest.raises(ConfigError) as info:
        balancer_kind("PASSTHROUGH")
    assert info.value.problems[0].field == "trafficPolicy.loadBalancer.simple"
    assert "PASSTHROUGH" in str(info.value)


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ConfigError):
        balancer_kind("FASTEST")
    with pytest.raises(ConfigError):
        BalancerPolicy(kind="FASTEST")  # type: ignore[arg-type]


def _naive_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, n))


@given(st.integers(-5, 3000))
def test_is_prime_matches_trial_division(n: int) -> None:
    assert is_prime(n) == _naive_prime(n)


@given(st.integers(2, 3000))
def test_maglev_table_size_must_be_prime(n: int) -> None:
    if _naive_prime(n):
        assert BalancerPolicy(kind="MAGLEV", maglev_table_size=n).maglev_table_size == n
    else:
        with pytest.raises(ConfigError) as info:
            BalancerPolicy(kind="MAGLEV", maglev_table_size=n)
        assert info.value.problems[0].field.endswith("maglev.tableSize")  # type: ignore[union-attr]


def test_maglev_table_size_is_capped_like_envoy() -> None:
    assert BalancerPolicy(maglev_table_size=5000011).maglev_table_size == 5000011
    with pytest.raises(ConfigError):
        BalancerPolicy(maglev_table_size=5000077)  # prime, but above Envoy's limit


@pytest.mark.parametrize(("minimum", "maximum"), [(0, 10), (2048, 1024), (1, 8 * 1024 * 1024 + 1)])
def test_ring_sizes_are_validated(minimum: int, maximum: int) -> None:
    with pytest.raises(ConfigError):
        BalancerPolicy(minimum_ring_size=minimum, maximum_ring_size=maximum)


def test_choice_count_at_least_two() -> None:
    with pytest.raises(ConfigError):
        BalancerPolicy(choice_count=1)


def test_is_hashing() -> None:
    assert BalancerPolicy(kind="RING_HASH").is_hashing
    assert BalancerPolicy(kind="MAGLEV").is_hashing
    assert not BalancerPolicy(kind="ROUND_ROBIN").is_hashing
