"""ROUND_ROBIN: Envoy's EDF order, exact proportions per period."""

from __future__ import annotations

import math
import random
from collections import Counter
from functools import reduce

from hypothesis import given, settings
from hypothesis import strategies as st

from inmesh.balancing import RoundRobinBalancer
from inmesh.balancing._round_robin import edf_schedule

from ._support import endpoint


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.integers(1, 12), min_size=1, max_size=8),
    st.integers(1, 4),
    st.integers(0, 2**32),
)
def test_exact_proportions_over_whole_rounds(weights: list[int], rounds: int, seed: int) -> None:
    eps = [endpoint(i, weight=w) for i, w in enumerate(weights)]
    b = RoundRobinBalancer(eps, rng=random.Random(seed))
    g = reduce(math.gcd, weights)
    period = sum(weights) // g
    seen = Counter(b.pick() for _ in range(rounds * period))
    assert {e: seen[e] for e in eps} == {
        e: rounds * w // g for e, w in zip(eps, weights, strict=True)
    }


def test_equal_weights_rotate_in_order() -> None:
    eps = [endpoint(i) for i in range(4)]
    b = RoundRobinBalancer(eps, rng=random.Random(0))
    first = b.pick()
    assert first is not None
    start = eps.index(first)
    got = [b.pick() for _ in range(7)]
    assert got == [eps[(start + 1 + i) % 4] for i in range(7)]


def test_edf_interleaves_like_envoy() -> None:
    # Weights 1 and 3: deadlines 1 (a) and 1/3, 2/3, 1 (b); ties go to the earlier entry.
    assert edf_schedule([1, 3]) == [1, 1, 0, 1]
    assert edf_schedule([2, 2]) == [0, 1]  # reduced by the gcd


def test_huge_periods_are_rescaled_but_every_host_keeps_a_slot() -> None:
    sched = edf_schedule([1, 1_000_000], limit=1000)
    assert 0 in sched
    assert len(sched) <= 1002


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=2, max_size=6), st.data())
def test_exclusion_skips_slots(weights: list[int], data: st.DataObject) -> None:
    eps = [endpoint(i, weight=w) for i, w in enumerate(weights)]
    out = data.draw(st.sets(st.sampled_from([e.key for e in eps]), max_size=len(eps) - 1))
    b = RoundRobinBalancer(eps, rng=random.Random(1))
    for _ in range(3 * sum(weights)):
        got = b.pick(exclude=out)
        assert got is not None and got.key not in out
