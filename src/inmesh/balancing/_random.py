"""RANDOM: each pick an independent weighted random draw.

Envoy's random balancer draws uniformly from the healthy hosts; endpoint weights are
honoured here (a host of weight 2 is drawn twice as often), which is the same as Envoy's
whenever weights are equal, and what a WorkloadEntry ``weight`` asks for otherwise.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Container, Sequence
from itertools import accumulate

from ._balancer import endpoint_weights, new_rng
from ._endpoint import Endpoint

# Draws tried before filtering when some endpoints are excluded. A rejected draw is
# redrawn, so accepted draws follow the weights restricted to eligible hosts exactly.
_REJECTION_TRIES = 4


class RandomBalancer:
    """Weighted random choice: O(1) for equal weights, O(log n) bisect otherwise."""

    __slots__ = ("_cum", "_endpoints", "_keys", "_n", "_random", "_total", "_uniform", "_weights")

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        *,
        rng: random.Random | None = None,
        weights: Sequence[float] | None = None,
    ) -> None:
        self._endpoints = tuple(endpoints)
        self._keys = tuple(e.key for e in self._endpoints)
        self._weights = endpoint_weights(self._endpoints, weights)
        self._n = len(self._endpoints)
        self._cum = list(accumulate(self._weights))
        self._total = self._cum[-1] if self._cum else 0.0
        self._uniform = len(set(self._weights)) <= 1
        self._random = new_rng(rng).random

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        return self._endpoints

    def _draw(self) -> int:
        if self._uniform:
            return int(self._random() * self._n)
        i = bisect_right(self._cum, self._random() * self._total)
        return i if i < self._n else self._n - 1  # guard float rounding at the top end

    def pick(
        self, hash_key: int | None = None, exclude: Container[str] | None = None
    ) -> Endpoint | None:
        """A weighted random eligible endpoint (``hash_key`` is ignored)."""
        if self._n == 0:
            return None
        if not exclude:
            return self._endpoints[self._draw()]
        keys = self._keys
        for _ in range(_REJECTION_TRIES):
            i = self._draw()
            if keys[i] not in exclude:
                return self._endpoints[i]
        eligible = [i for i in range(self._n) if keys[i] not in exclude]
        if not eligible:
            return None
        cum = list(accumulate(self._weights[i] for i in eligible))
        j = bisect_right(cum, self._random() * cum[-1])
        return self._endpoints[eligible[min(j, len(eligible) - 1)]]
