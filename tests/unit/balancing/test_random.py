"""RANDOM: weighted draws within statistical bounds (fixed seeds, no flakiness)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from inmesh.balancing import RandomBalancer

from ._support import endpoint


def _within(count: int, n: int, p: float, sigmas: float = 5.0) -> bool:
    mean = n * p
    sd = (n * p * (1 - p)) ** 0.5
    return bool(abs(count - mean) <= sigmas * sd)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weighted_shares(seed: int) -> None:
    weights = [1, 2, 3, 10]
    eps = [endpoint(i, weight=w) for i, w in enumerate(weights)]
    b = RandomBalancer(eps, rng=random.Random(seed))
    n = 20000
    seen = Counter(b.pick() for _ in range(n))
    for e, w in zip(eps, weights, strict=True):
        assert _within(seen[e], n, w / sum(weights))


def test_exclusion_keeps_relative_weights() -> None:
    weights = [1, 3, 6]
    eps = [endpoint(i, weight=w) for i, w in enumerate(weights)]
    b = RandomBalancer(eps, rng=random.Random(7))
    n = 20000
    seen = Counter(b.pick(exclude={eps[2].key}) for _ in range(n))
    assert seen[eps[2]] == 0
    assert _within(seen[eps[0]], n, 0.25)
    assert _within(seen[eps[1]], n, 0.75)


def test_mostly_excluded_falls_back_to_filtering() -> None:
    eps = [endpoint(i, weight=100 if i else 1) for i in range(5)]
    b = RandomBalancer(eps, rng=random.Random(3))
    heavy = {e.key for e in eps[1:]}
    assert all(b.pick(exclude=heavy) is eps[0] for _ in range(200))


def test_equal_weights_are_uniform() -> None:
    eps = [endpoint(i) for i in range(5)]
    b = RandomBalancer(eps, rng=random.Random(11))
    n = 20000
    seen = Counter(b.pick() for _ in range(n))
    assert all(_within(seen[e], n, 0.2) for e in eps)
