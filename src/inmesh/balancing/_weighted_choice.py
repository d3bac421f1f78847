"""Weighted choice among a VirtualService route's destinations (``route[].weight``).

Istio's rule (HTTPRouteDestination.weight): "A destination will receive weight/(sum of all
weights) requests. If there is only one destination in a rule, it will receive all
traffic. Otherwise, if weight is 0, the destination will not receive any traffic."
Weights are relative (no need to sum to 100 since Istio's v1 API), and an unset weight is
0, the protobuf default. When several destinations all weigh 0 nothing can be chosen; the
router decides what to answer.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate

from .._entropy import RNG


class WeightedChoice:
    """Chooses a destination index in O(log n): ``bisect`` on precomputed cumulative sums."""

    __slots__ = ("_always", "_cum", "_last", "_random", "_total")

    def __init__(self, weights: Sequence[int | None], rng: random.Random | None = None) -> None:
        ws = [0 if w is None else w for w in weights]
        if any(w < 0 for w in ws):
            raise ValueError(f"route weights must not be negative: {ws}")
        self._cum = list(accumulate(ws))
        self._total = self._cum[-1] if self._cum else 0
        positive = [i for i, w in enumerate(ws) if w > 0]
        # Istio: a lone destination gets all traffic whatever its weight; so does the
        # only destination with a positive weight (no draw needed).
        self._always: int | None = None
        if len(ws) == 1:
            self._always = 0
        elif len(positive) == 1:
            self._always = positive[0]
        self._last = positive[-1] if positive else -1
        self._random = (rng or RNG).random  # the mesh's one source unless given one

    @property
    def total(self) -> int:
        """Sum of the weights (0 when nothing can be chosen, unless there is one route)."""
        return self._total

    def choose(self, r: float | None = None) -> int | None:
        """The chosen index, or ``None`` if every one of several destinations weighs 0.

        ``r`` in ``[0, 1)`` replaces the random draw (for callers with their own source).
        """
        if self._always is not None:
            return self._always
        if self._total == 0:
            return None
        x = (self._random() if r is None else r) * self._total
        i = bisect_right(self._cum, x)
        # A zero weight never wins: its cumulative sum equals its predecessor's. Only
        # float rounding at the very top can run past the end.
        return i if i <= self._last else self._last
