"""ROUND_ROBIN: Envoy's weighted round robin, as a precomputed EDF schedule.

Envoy orders weighted round robin with an earliest-deadline-first scheduler: a host of
weight ``w`` has deadlines ``1/w, 2/w, ...`` and the earliest deadline goes next (ties in
insertion order). One period of that schedule (``sum(w)/gcd(w)`` picks, each host exactly
``w/gcd`` times) is computed once per snapshot, so a pick is one index into a tuple driven
by a shared ``itertools.count``. ``next()`` on a count is atomic under the GIL, so threads
share the rotation without a lock, and the pick allocates nothing.

Why not smooth weighted RR (nginx)? It gives the same proportions but mutates per-host
state on every pick (a lock, O(n) per pick). A table costs memory instead, bounded by
:data:`MAX_SCHEDULE`.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Container, Sequence

from ._balancer import any_eligible, endpoint_weights, new_rng
from ._endpoint import Endpoint

# Longest schedule kept. Beyond it, weights are scaled down to fit (each host keeps at
# least one slot), so proportions are then exact only to within one slot per host.
MAX_SCHEDULE = 1 << 16


def edf_schedule(weights: Sequence[float], limit: int = MAX_SCHEDULE) -> list[int]:
    """One period of Envoy's EDF order over ``weights``: a list of indexes.

    Integral weights are reduced by their gcd, so each index ``i`` appears exactly
    ``weights[i] / gcd`` times when the period fits in ``limit``. Other weights (floats,
    or a period past ``limit``) are first rescaled to integers summing to about ``limit``.
    """
    if not weights:
        return []
    ints = [int(w) for w in weights]
    if ints != list(weights) or sum(ints) // math.gcd(*ints) > limit:
        total = sum(weights)
        ints = [max(1, round(w * limit / total)) for w in weights]
    g = math.gcd(*ints)
    ints = [w // g for w in ints]
    period = sum(ints)
    # Entries are (deadline, insertion order, index, k): the k-th slot of host i is due at
    # k / w_i, computed from k rather than summed so equal rationals tie exactly.
    heap = [(1 / w, i, i, 1) for i, w in enumerate(ints)]
    heapq.heapify(heap)
    order = len(heap)
    out: list[int] = []
    for _ in range(period):
        _, _, i, k = heap[0]
        out.append(i)
        heapq.heapreplace(heap, ((k + 1) / ints[i], order, i, k + 1))
        order += 1
    return out


class RoundRobinBalancer:
    """Weighted round robin; plain rotation when weights are equal."""

    __slots__ = ("_endpoints", "_keys", "_next", "_schedule", "_size")

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        *,
        rng: random.Random | None = None,
        weights: Sequence[float] | None = None,
    ) -> None:
        self._endpoints = tuple(endpoints)
        self._keys = tuple(e.key for e in self._endpoints)
        ws = endpoint_weights(self._endpoints, weights)
        self._schedule = tuple(self._endpoints[i] for i in edf_schedule(ws))
        self._size = len(self._schedule)
        # Start at a random point of the period, as Envoy seeds its RR index, so that
        # many clients built at once do not all send their first request to one host.
        start = int(new_rng(rng).random() * self._size) if self._size else 0
        self._next = itertools.count(start).__next__

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        return self._endpoints

    def pick(
        self, hash_key: int | None = None, exclude: Container[str] | None = None
    ) -> Endpoint | None:
        """The next eligible endpoint in the schedule (``hash_key`` is ignored)."""
        size = self._size
        if size == 0:
            return None
        endpoint = self._schedule[self._next() % size]
        if not exclude or endpoint.key not in exclude:
            return endpoint
        if not any_eligible(self._keys, exclude):
            return None
        # Skip excluded slots; every host has a slot, so one period is enough.
        for _ in range(size):
            endpoint = self._schedule[self._next() % size]
            if endpoint.key not in exclude:
                return endpoint
        return None  # pragma: no cover - unreachable after any_eligible
