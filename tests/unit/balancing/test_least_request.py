"""LEAST_REQUEST: P2C with equal weights, load-scaled EDF with unequal weights."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from inmesh.balancing import ActiveRequests, LeastRequestBalancer

from ._support import endpoint, endpoints


def _load(active: ActiveRequests, key: str, n: int) -> None:
    for _ in range(n):
        active.inc(key)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 50), st.integers(0, 50), st.integers(0, 2**32))
def test_p2c_never_picks_the_busier_of_two(a: int, b: int, seed: int) -> None:
    eps = endpoints(2)
    active = ActiveRequests()
    _load(active, eps[0].key, a)
    _load(active, eps[1].key, b)
    lb = LeastRequestBalancer(eps, active, rng=random.Random(seed))
    picks = {lb.pick() for _ in range(30)}
    if a < b:
        assert picks == {eps[0]}
    elif b < a:
        assert picks == {eps[1]}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 20), min_size=2, max_size=10, unique=True), st.integers(0, 2**32))
def test_the_busiest_host_never_gets_a_request(loads: list[int], seed: int) -> None:
    # Envoy's documented P2C property; it holds because the two choices are distinct.
    eps = endpoints(len(loads))
    active = ActiveRequests()
    for e, n in zip(eps, loads, strict=True):
        _load(active, e.key, n)
    lb = LeastRequestBalancer(eps, active, rng=random.Random(seed))
    busiest = eps[loads.index(max(loads))]
    assert all(lb.pick() is not busiest for _ in range(50))


def test_more_choices_scan_more() -> None:
    eps = endpoints(5)
    active = ActiveRequests()
    for i, e in enumerate(eps):
        _load(active, e.key, 5 - i)  # eps[4] is the idlest
    full = LeastRequestBalancer(eps, active, choice_count=5, rng=random.Random(0))
    assert all(full.pick() is eps[4] for _ in range(20))
    three = LeastRequestBalancer(eps, active, choice_count=3, rng=random.Random(0))
    seen = Counter(three.pick() for _ in range(2000))
    assert seen[eps[0]] == seen[eps[1]] == 0  # never the two busiest with 3 of 5 drawn
    assert seen[eps[4]] > seen[eps[3]] > seen[eps[2]]


def test_equal_load_spreads_evenly() -> None:
    eps = endpoints(4)
    lb = LeastRequestBalancer(eps, ActiveRequests(), rng=random.Random(5))
    seen = Counter(lb.pick() for _ in range(8000))
    assert all(1700 < seen[e] < 2300 for e in eps)


def test_exclusion_with_p2c() -> None:
    eps = endpoints(3)
    active = ActiveRequests()
    _load(active, eps[2].key, 10)
    lb = LeastRequestBalancer(eps, active, rng=random.Random(1))
    # Only the busy host is left: it must be chosen (least loaded among the eligible).
    assert lb.pick(exclude={eps[0].key, eps[1].key}) is eps[2]


def test_weighted_idle_hosts_follow_weights_exactly() -> None:
    weights = [1, 2, 5]
    eps = [endpoint(i, weight=w) for i, w in enumerate(weights)]
    lb = LeastRequestBalancer(eps, ActiveRequests(), rng=random.Random(2))
    seen = Counter(lb.pick() for _ in range(80 * 8))
    for e, w in zip(eps, weights, strict=True):
        assert abs(seen[e] - 80 * w) <= 2


def test_weighted_load_lowers_effective_weight() -> None:
    # Envoy: weight / (active + 1). Host 1 (weight 4) with 3 in flight counts as weight 1,
    # the same as host 0 (weight 2, 1 in flight): they share evenly.
    eps = [endpoint(0, weight=2), endpoint(1, weight=4)]
    active = ActiveRequests()
    _load(active, eps[0].key, 1)
    _load(active, eps[1].key, 3)
    lb = LeastRequestBalancer(eps, active, rng=random.Random(3))
    seen = Counter(lb.pick() for _ in range(1000))
    assert abs(seen[eps[0]] - seen[eps[1]]) <= 4


def test_weighted_exclusion() -> None:
    eps = [endpoint(i, weight=i + 1) for i in range(4)]
    lb = LeastRequestBalancer(eps, ActiveRequests(), rng=random.Random(4))
    out = {eps[3].key, eps[1].key}
    seen = Counter(lb.pick(exclude=out) for _ in range(400))
    assert set(seen) == {eps[0], eps[2]}
    assert lb.pick(exclude={e.key for e in eps}) is None
