"""LocalityBalancer: when it applies, priority spill-over, distribute, exclusion."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inmesh.balancing import (
    ActiveRequests,
    Balancer,
    BalancerPolicy,
    Distribute,
    Endpoint,
    Failover,
    LocalityBalancer,
    LocalitySetting,
    priority_loads,
)

from ._support import KINDS, SMALL_POLICY, endpoint, endpoint_lists, excluded_keys, hash_keys


def _fleet(per_locality: int = 4) -> list[Endpoint]:
    locs = ["r1/z1", "r1/z2", "r2/z1", "r3/z1"]
    return [
        endpoint(i * per_locality + j, locality=loc)
        for i, loc in enumerate(locs)
        for j in range(per_locality)
    ]


def _lb(
    eps: list[Endpoint], kind: str = "ROUND_ROBIN", seed: int = 0, **kw: Any
) -> LocalityBalancer:
    kw.setdefault("client_locality", "r1/z1")
    return LocalityBalancer(
        SMALL_POLICY[kind], eps, ActiveRequests(), rng=random.Random(seed), **kw
    )


def _where(lb: LocalityBalancer, exclude: set[str] | None = None) -> str:
    got = lb.pick(exclude=exclude)
    assert got is not None
    return got.locality


@pytest.mark.parametrize(
    ("envoy_healthy_percent", "p0_load"),
    # Envoy's "priority levels" table (P1 fully healthy): 100->100, 72->100, 71->99,
    # 50->70, 25->35, 0->0.
    [(100, 100), (72, 100), (71, 99), (50, 70), (25, 35), (0, 0)],
)
def test_priority_loads_match_envoys_table(envoy_healthy_percent: int, p0_load: int) -> None:
    health = [min(100, 140 * envoy_healthy_percent // 100), 100]
    assert priority_loads(health) == [p0_load, 100 - p0_load]


def test_priority_loads_scale_up_when_total_is_short() -> None:
    assert priority_loads([28, 28]) == [50, 50]
    assert priority_loads([0, 0]) is None
    assert sum(priority_loads([33, 33, 33]) or []) == 100


def test_failover_needs_outlier_detection() -> None:
    eps = _fleet()
    assert _lb(eps).mode == "flat"  # Istio: no outlier detection, no failover
    lb = _lb(eps, failover_enabled=True)
    assert lb.mode == "failover"
    assert [len(level) for level in lb.levels] == [4, 4, 8]


@pytest.mark.parametrize(
    "kw",
    [
        {"client_locality": ""},
        {"setting": LocalitySetting(enabled=False)},
    ],
)
def test_plain_balancing_when_locality_does_not_apply(kw: dict[str, Any]) -> None:
    lb = _lb(_fleet(), failover_enabled=True, **kw)
    assert lb.mode == "flat"
    assert len(lb.levels) == 1


def test_endpoints_without_locality_are_plain() -> None:
    lb = _lb([endpoint(i) for i in range(3)], failover_enabled=True)
    assert lb.mode == "flat"


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(KINDS), hash_keys, st.integers(0, 2**32))
def test_all_healthy_traffic_stays_in_the_client_zone(
    kind: str, key: int | None, seed: int
) -> None:
    eps = _fleet()
    lb = _lb(eps, kind, seed, failover_enabled=True)
    for _ in range(10):
        got = lb.pick(key)
        assert got is not None and got.locality == "r1/z1"


def test_failover_goes_to_the_configured_region() -> None:
    eps = _fleet()
    setting = LocalitySetting(failover=(Failover("r1", "r3"),))
    lb = _lb(eps, failover_enabled=True, setting=setting)
    r1 = {e.key for e in eps if e.locality.startswith("r1")}
    seen = {_where(lb, r1) for _ in range(50)}
    assert seen == {"r3/z1"}


def test_overprovisioning_spills_load_to_the_next_level() -> None:
    eps = [endpoint(i, locality="r1/z1") for i in range(10)]
    eps += [endpoint(10 + i, locality="r1/z2") for i in range(10)]
    lb = _lb(eps, "RANDOM", 3, failover_enabled=True)
    # 5 of 10 in P0 eligible: health 70, so P0 gets 70% and P1 30%.
    out = {e.key for e in eps[:5]}
    n = 10000
    seen = Counter(_where(lb, out) for _ in range(n))
    assert abs(seen["r1/z1"] / n - 0.70) < 0.03
    # 8 of 10 eligible: 8 * 1.4 > 100%, P0 keeps everything.
    out = {e.key for e in eps[:2]}
    assert all(_where(lb, out) == "r1/z1" for _ in range(500))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(KINDS), st.booleans(), st.data())
def test_every_pick_is_eligible(kind: str, failover: bool, data: st.DataObject) -> None:
    eps = data.draw(endpoint_lists(max_size=10, with_locality=True))
    exclude = data.draw(excluded_keys(eps))
    client = data.draw(st.sampled_from(["r1/z1/s1", "r2/z3", "", "r9"]))
    lb = _lb(eps, kind, failover_enabled=failover, client_locality=client)
    eligible = [e for e in eps if e.key not in exclude]
    for _ in range(10):
        got = lb.pick(data.draw(hash_keys), exclude)
        assert (got in eligible) if eligible else (got is None)


def test_hash_policies_are_stable_per_key() -> None:
    eps = _fleet()
    for kind in ("RING_HASH", "MAGLEV"):
        a = _lb(eps, kind, 1, failover_enabled=True)
        b = _lb(eps, kind, 2, failover_enabled=True)
        for key in range(0, 2**64, 2**58):
            assert a.pick(key) == b.pick(key)


def test_distribute_weights_within_bounds() -> None:
    eps = _fleet()
    setting = LocalitySetting(
        distribute=(Distribute("r1/z1", {"r1/z1": 70, "r2/*": 20, "r3/*": 10}),)
    )
    lb = _lb(eps, "RANDOM", 5, setting=setting)
    assert lb.mode == "distribute"
    assert {e.locality for e in lb.endpoints} == {"r1/z1", "r2/z1", "r3/z1"}  # r1/z2 dropped
    n = 10000
    seen = Counter(_where(lb) for _ in range(n))
    for loc, share in (("r1/z1", 0.7), ("r2/z1", 0.2), ("r3/z1", 0.1)):
        assert abs(seen[loc] / n - share) < 0.02


def test_distribute_round_robin_is_exact_per_period() -> None:
    eps = _fleet()
    setting = LocalitySetting(distribute=(Distribute("*", {"r1/z1": 75, "r1/z2": 25}),))
    lb = _lb(eps, "ROUND_ROBIN", 0, setting=setting)
    seen = Counter(_where(lb) for _ in range(400))
    assert seen == {"r1/z1": 300, "r1/z2": 100}


def test_distribute_without_matching_rule_is_plain() -> None:
    setting = LocalitySetting(distribute=(Distribute("r9/*", {"r1/z1": 100}),))
    assert _lb(_fleet(), setting=setting).mode == "flat"


def test_locality_weights_exposed() -> None:
    eps = _fleet()
    setting = LocalitySetting(distribute=(Distribute("r1/z1", {"r1/*": 60, "r2/*": 40}),))
    lb = _lb(eps, setting=setting)
    assert lb.locality_weights == ({"r1/z1": 30, "r1/z2": 30, "r2/z1": 40},)


def test_least_request_inside_localities() -> None:
    eps = _fleet(2)
    active = ActiveRequests()
    active.inc(eps[0].key)
    lb = LocalityBalancer(
        BalancerPolicy(),
        eps,
        active,
        client_locality="r1/z1",
        failover_enabled=True,
        rng=random.Random(0),
    )
    assert all(lb.pick() is eps[1] for _ in range(50))


def test_everything_excluded() -> None:
    eps = _fleet()
    lb = _lb(eps, failover_enabled=True)
    assert lb.pick(exclude={e.key for e in eps}) is None


def test_distribute_to_empty_localities_gives_nothing() -> None:
    setting = LocalitySetting(distribute=(Distribute("*", {"r7/*": 100}),))
    lb = _lb(_fleet(), setting=setting)
    assert lb.mode == "distribute"
    assert lb.endpoints == () and lb.levels == ()
    assert lb.pick() is None


@pytest.mark.parametrize("kind", KINDS)
def test_one_eligible_host_among_many_is_still_found(kind: str) -> None:
    # 140 * 1 // 200 == 0: every level's health rounds to 0, yet a host is eligible.
    eps = [endpoint(i, locality="r1/z1") for i in range(200)]
    eps += [endpoint(200 + i, locality="r2/z1") for i in range(200)]
    lb = _lb(eps, kind, failover_enabled=True)
    out = {e.key for e in eps if e is not eps[250]}
    assert all(lb.pick(k, out) is eps[250] for k in (None, 1, 2**63))


class _Keys:
    """A Container that is not a set: exercises the full-scan path."""

    def __init__(self, keys: frozenset[str]) -> None:
        self._keys = keys

    def __contains__(self, key: object) -> bool:
        return key in self._keys


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(KINDS), st.data())
def test_any_container_works_as_exclude(kind: str, data: st.DataObject) -> None:
    eps = data.draw(endpoint_lists(max_size=10, with_locality=True))
    exclude = data.draw(excluded_keys(eps))
    lb: Balancer = _lb(eps, kind, failover_enabled=True, client_locality="r1/z1/s1")
    eligible = [e for e in eps if e.key not in exclude]
    for _ in range(10):
        got = lb.pick(data.draw(hash_keys), _Keys(exclude))
        assert (got in eligible) if eligible else (got is None)
