"""LEAST_REQUEST (Istio's default; LEAST_CONN is its deprecated alias): Envoy's algorithm.

Envoy's "weighted least request" (architecture overview, load balancers) has two modes:

* **All weights equal**: N random choices (``choice_count``, default 2: "power of two
  choices", P2C) and the host with the fewest active requests wins; on a tie the first
  sampled stays. Envoy samples with replacement, so it can draw the same host twice; here
  the N draws are *distinct* hosts, which makes Envoy's documented property hold exactly:
  the host with the most active requests never receives a new one (while another host has
  fewer). With ``choice_count >= n`` the pick is a full scan.
* **Unequal weights**: an EDF schedule whose weights are scaled by load when a host is
  (re)inserted: ``weight / (active_requests + 1) ** active_request_bias`` (bias 1.0,
  Envoy's default). Busy hosts get picked less and less often but never drain to zero.

Active requests come from the shared :class:`ActiveRequests`, which outlives snapshots.
"""

from __future__ import annotations

import heapq
import random
import threading
from collections.abc import Container, Sequence

from ._balancer import any_eligible, endpoint_weights, new_rng
from ._endpoint import Endpoint
from ._stats import ActiveRequests

# Envoy's LeastRequest.active_request_bias default (Istio does not expose it).
ACTIVE_REQUEST_BIAS = 1.0


class LeastRequestBalancer:
    """Envoy's LEAST_REQUEST: distinct-sample P2C, or load-scaled EDF for unequal weights."""

    __slots__ = (
        "_choices",
        "_count",
        "_endpoints",
        "_heap",
        "_keys",
        "_lock",
        "_n",
        "_order",
        "_random",
        "_weighted",
        "_weights",
    )

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        active: ActiveRequests,
        *,
        choice_count: int = 2,
        rng: random.Random | None = None,
        weights: Sequence[float] | None = None,
    ) -> None:
        self._endpoints = tuple(endpoints)
        self._keys = tuple(e.key for e in self._endpoints)
        self._n = len(self._endpoints)
        self._weights = endpoint_weights(self._endpoints, weights)
        self._weighted = len(set(self._weights)) > 1
        self._choices = choice_count
        self._count = active.reader()
        gen = new_rng(rng)
        self._random = gen.random
        self._lock = threading.Lock()
        # EDF state (weighted mode only): (deadline, insertion order, index).
        self._heap: list[tuple[float, int, int]] = []
        self._order = self._n
        if self._weighted:
            self._heap = [(1.0 / self._weight_now(i), i, i) for i in range(self._n)]
            heapq.heapify(self._heap)
            # Envoy starts each scheduler after a random number of picks so that clients
            # built together do not walk the schedule in lockstep.
            for _ in range(int(self._random() * self._n)):
                self._edf_next()

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        return self._endpoints

    def pick(
        self, hash_key: int | None = None, exclude: Container[str] | None = None
    ) -> Endpoint | None:
        """The least loaded of ``choice_count`` random endpoints, or the EDF's next."""
        n = self._n
        if n <= 1:
            if n == 0 or (exclude and self._keys[0] in exclude):
                return None
            return self._endpoints[0]
        if self._weighted:
            return self._pick_weighted(exclude)
        if exclude:
            eligible = [i for i in range(n) if self._keys[i] not in exclude]
            return self._p2c(eligible, len(eligible)) if eligible else None
        if self._choices == 2:
            # The hot path, unrolled: two distinct random indexes.
            rnd = self._random
            i = int(rnd() * n)
            j = int(rnd() * (n - 1))
            if j >= i:
                j += 1
            count = self._count
            keys = self._keys
            if count(keys[j], 0) < count(keys[i], 0):
                return self._endpoints[j]
            return self._endpoints[i]
        return self._p2c(range(n), n)

    def _p2c(self, pool: Sequence[int], size: int) -> Endpoint:
        """Least active among ``choice_count`` distinct members of ``pool`` (first wins ties)."""
        count = self._count
        keys = self._keys
        if self._choices >= size:
            sample: Sequence[int] = pool  # full scan
        else:
            rnd = self._random
            chosen: list[int] = []
            while len(chosen) < self._choices:
                i = pool[int(rnd() * size)]
                if i not in chosen:
                    chosen.append(i)
            sample = chosen
        best = sample[0]
        best_active = count(keys[best], 0)
        for i in sample[1:]:
            a = count(keys[i], 0)
            if a < best_active:
                best, best_active = i, a
        return self._endpoints[best]

    def _weight_now(self, i: int) -> float:
        # Envoy's LeastRequestLoadBalancer::hostWeight with active_request_bias == 1.0.
        active = self._count(self._keys[i], 0) + 1
        w = self._weights[i]
        if ACTIVE_REQUEST_BIAS == 1.0:
            return w / active
        return float(w / active**ACTIVE_REQUEST_BIAS)  # pragma: no cover - bias is fixed

    def _edf_next(self) -> int:
        """Pop the earliest deadline and reinsert it with its load-scaled weight (lock held)."""
        deadline, _, i = self._heap[0]
        heapq.heapreplace(self._heap, (deadline + 1.0 / self._weight_now(i), self._order, i))
        self._order += 1
        return i

    def _pick_weighted(self, exclude: Container[str] | None) -> Endpoint | None:
        if exclude and not any_eligible(self._keys, exclude):
            return None
        with self._lock:
            while True:  # terminates: some host is eligible and each pass advances time
                i = self._edf_next()
                if not exclude or self._keys[i] not in exclude:
                    return self._endpoints[i]
