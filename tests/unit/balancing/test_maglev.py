"""MAGLEV: Envoy's weighted table, stability, minimal disruption, exclusion."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from inmesh.balancing import MaglevBalancer, hash_value
from inmesh.balancing._maglev import maglev_table

from ._support import endpoint, endpoints

KEYS = [hash_value(f"session-{i}") for i in range(3000)]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=1, max_size=6), st.sampled_from([7, 101, 251, 1009]))
def test_table_is_full_and_weighted(weights: list[int], size: int) -> None:
    eps = [endpoint(i, weight=w) for i, w in enumerate(weights)]
    table = maglev_table(eps, [float(w) for w in weights], size)
    assert len(table) == size
    assert set(table) <= set(range(len(eps)))
    # Envoy's rounds: after R rounds a host of weight w holds floor(R * w / max_w) + 1
    # slots, so every share is exact to within a slot or two.
    counts = Counter(table)
    for i, w in enumerate(weights):
        assert abs(counts[i] - size * w / sum(weights)) <= 2 + len(weights)


def test_default_table_size_and_weights() -> None:
    eps = [endpoint(0, weight=1), endpoint(1, weight=2), endpoint(2, weight=1)]
    b = MaglevBalancer(eps)
    assert len(b.table) == 65537
    counts = Counter(b.table)
    assert abs(counts[eps[1]] / 65537 - 0.5) < 0.01


def test_table_size_must_be_prime() -> None:
    try:
        MaglevBalancer(endpoints(2), table_size=100)
    except ValueError as exc:
        assert "prime" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("a non-prime table size was accepted")


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 10), st.integers(0, 2**64 - 1))
def test_same_key_same_endpoint_across_builds(n: int, key: int) -> None:
    eps = endpoints(n)
    a = MaglevBalancer(eps, table_size=1009, rng=random.Random(1))
    b = MaglevBalancer(list(reversed(eps)), table_size=1009, rng=random.Random(2))
    assert a.pick(key) == b.pick(key) == a.pick(key)  # input order does not matter
    assert a.pick(key) is a.table[key % 1009]


def test_removing_one_of_n_moves_about_one_nth_of_keys() -> None:
    n = 10
    eps = endpoints(n)
    before = MaglevBalancer(eps, table_size=4099)
    after = MaglevBalancer(eps[1:], table_size=4099)
    moved = sum(before.pick(k) != after.pick(k) for k in KEYS) / len(KEYS)
    assert 0.5 / n < moved < 2.0 / n


def test_exclusion_rehashes_then_walks() -> None:
    eps = endpoints(5)
    b = MaglevBalancer(eps, table_size=1009)
    out = {eps[0].key, eps[1].key, eps[2].key, eps[3].key}
    assert all(b.pick(k, out) is eps[4] for k in KEYS[:200])
    out2 = {eps[1].key}
    for k in KEYS[:500]:
        home = b.pick(k)
        got = b.pick(k, out2)
        assert got is not None and got.key not in out2
        if home is not eps[1]:
            assert got is home
        else:
            assert got == b.pick(k, out2)  # deterministic
