"""RING_HASH: Envoy's ring sizing, stable keys, minimal disruption, forward walk."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inmesh.balancing import RingHashBalancer, hash_value

from ._support import endpoint, endpoints

KEYS = [hash_value(f"user-{i}") for i in range(3000)]


def test_ring_size_follows_envoys_scale() -> None:
    # Equal weights: min_w = 1/10, scale = ceil(0.1 * 1024) / 0.1 = 1030.
    assert RingHashBalancer(endpoints(10)).ring_size == 1030
    # One host of weight 1 among weight 3: min_w = 1/7, scale = ceil(1024/7) * 7 = 1029.
    eps = [endpoint(0, weight=1), endpoint(1, weight=3), endpoint(2, weight=3)]
    assert RingHashBalancer(eps).ring_size == 1029
    # Capped by maximum_ring_size.
    assert (
        RingHashBalancer(endpoints(3), minimum_ring_size=1024, maximum_ring_size=100).ring_size
        == 100
    )


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.integers(0, 2**64 - 1))
def test_same_key_same_endpoint_across_builds(n: int, key: int) -> None:
    eps = endpoints(n)
    a = RingHashBalancer(eps, rng=random.Random(1))
    b = RingHashBalancer(list(eps), rng=random.Random(2))  # another process, another rng
    assert a.pick(key) is not None
    assert a.pick(key) == b.pick(key) == a.pick(key)


@pytest.mark.parametrize("n", [5, 10, 20])
def test_removing_one_of_n_moves_about_one_nth_of_keys(n: int) -> None:
    eps = endpoints(n)
    before = RingHashBalancer(eps)
    after = RingHashBalancer(eps[1:])  # eps[0] leaves
    moved = sum(before.pick(k) != after.pick(k) for k in KEYS) / len(KEYS)
    # The leaver's ~1/n, plus some churn: Envoy rescales the ring when the host set
    # changes (10 equal hosts get 103 entries each, 9 get 114), and the extra entries of
    # the remaining hosts take over a few keys from their neighbours.
    assert 0.5 / n < moved < 2.0 / n
    kept = [k for k in KEYS if before.pick(k) is not eps[0]]
    assert sum(before.pick(k) != after.pick(k) for k in kept) / len(kept) < 0.15


def test_weights_shape_the_key_share() -> None:
    eps = [endpoint(0, weight=1), endpoint(1, weight=3)]
    b = RingHashBalancer(eps, minimum_ring_size=4096)
    seen = Counter(b.pick(k) for k in KEYS)
    assert 0.18 < seen[eps[0]] / len(KEYS) < 0.32


def test_exclusion_walks_forward_like_removal() -> None:
    # Walking past an excluded host's entries is exactly removing them from the ring, so
    # keys of other hosts never move, and the excluded host's keys land where a ring of
    # the same entries minus that host sends them.
    eps = endpoints(6)
    b = RingHashBalancer(eps)
    out = {eps[2].key}
    for k in KEYS[:1000]:
        home = b.pick(k)
        got = b.pick(k, out)
        assert got is not None and got.key not in out
        if home is not eps[2]:
            assert got is home


def test_no_key_picks_randomly() -> None:
    eps = endpoints(4)
    b = RingHashBalancer(eps, rng=random.Random(9))
    assert len({b.pick() for _ in range(200)}) == 4
