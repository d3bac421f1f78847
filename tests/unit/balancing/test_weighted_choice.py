"""WeightedChoice: Istio's route destination weights."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inmesh.balancing import WeightedChoice


@pytest.mark.parametrize("weight", [None, 0, 1, 100])
def test_single_destination_gets_everything(weight: int | None) -> None:
    wc = WeightedChoice([weight])
    assert all(wc.choose(r) == 0 for r in (0.0, 0.5, 0.999))
    assert wc.choose() == 0


def test_all_zero_is_none() -> None:
    assert WeightedChoice([0, 0]).choose() is None
    assert WeightedChoice([None, None, 0]).choose(0.3) is None
    assert WeightedChoice([]).choose() is None


def test_negative_weight_rejected() -> None:
    with pytest.raises(ValueError):
        WeightedChoice([1, -1])


@given(
    st.lists(st.one_of(st.none(), st.integers(0, 1000)), min_size=2, max_size=8),
    st.floats(0, 1, exclude_max=True),
)
def test_choice_follows_cumulative_weights(weights: list[int | None], r: float) -> None:
    wc = WeightedChoice(weights)
    got = wc.choose(r)
    ws = [w or 0 for w in weights]
    if sum(ws) == 0:
        assert got is None
        return
    assert got is not None
    assert ws[got] > 0  # a zero weight never receives traffic
    x = r * sum(ws)
    assert sum(ws[:got]) <= x < sum(ws[: got + 1]) or got == max(i for i, w in enumerate(ws) if w)


def test_relative_weights_within_bounds() -> None:
    wc = WeightedChoice([1, 3, 0, 6], rng=random.Random(4))  # need not sum to 100
    n = 20000
    seen = Counter(wc.choose() for _ in range(n))
    assert seen[2] == 0
    for i, share in ((0, 0.1), (1, 0.3), (3, 0.6)):
        assert abs(seen[i] / n - share) < 0.015
