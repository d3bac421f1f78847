"""RING_HASH: Envoy's ketama-style consistent-hash ring.

Construction follows Envoy's ``RingHashLoadBalancer::Ring``: weights are normalized to sum
to 1, ``scale = min(ceil(min_w * minimum_ring_size) / min_w, maximum_ring_size)`` so the
lightest host gets a whole number of entries, and each host gets ``scale * w`` entries
(running sums carry the fractions) hashed from ``"address:port_i"``. Lookup takes the first
entry whose hash is >= the request hash, wrapping to the start (``ketama_get_server``).

Exclusion walks the ring forward to the next eligible entry. That is exactly where the key
would land if the excluded hosts' entries were removed, so an ejected host's keys spread
over the others while every other key stays put; Envoy's retry predicate also steps
forward along the ring.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left
from collections.abc import Container, Sequence

from ._balancer import any_eligible, endpoint_weights, new_rng
from ._endpoint import Endpoint
from ._hashing import MASK64, hash_value
from ._policy import DEFAULT_MIN_RING_SIZE, MAX_RING_SIZE


def ring_entries(
    endpoints: Sequence[Endpoint],
    weights: Sequence[float],
    minimum_ring_size: int = DEFAULT_MIN_RING_SIZE,
    maximum_ring_size: int = MAX_RING_SIZE,
) -> list[tuple[int, int]]:
    """The sorted ring as ``(hash, endpoint index)`` pairs, sized as Envoy sizes it."""
    if not endpoints:
        return []
    total = sum(weights)
    normalized = [w / total for w in weights]
    min_w = min(normalized)
    scale = min(math.ceil(min_w * minimum_ring_size) / min_w, float(maximum_ring_size))
    entries: list[tuple[int, int]] = []
    current = 0.0
    target = 0.0
    for idx, (endpoint, w) in enumerate(zip(endpoints, normalized, strict=True)):
        prefix = endpoint.key + "_"
        target += scale * w
        i = 0
        while current < target:
            entries.append((hash_value(prefix + str(i)), idx))
            i += 1
            current += 1
    entries.sort()
    return entries


class RingHashBalancer:
    """Consistent hashing on a sorted ring; a pick is one ``bisect``."""

    __slots__ = ("_endpoints", "_getrandbits", "_hashes", "_keys", "_owners", "_size")

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        *,
        minimum_ring_size: int = DEFAULT_MIN_RING_SIZE,
        maximum_ring_size: int = MAX_RING_SIZE,
        rng: random.Random | None = None,
        weights: Sequence[float] | None = None,
    ) -> None:
        self._endpoints = tuple(endpoints)
        self._keys = tuple(e.key for e in self._endpoints)
        ws = endpoint_weights(self._endpoints, weights)
        entries = ring_entries(self._endpoints, ws, minimum_ring_size, maximum_ring_size)
        self._hashes = [h for h, _ in entries]
        self._owners = tuple(self._endpoints[i] for _, i in entries)
        self._size = len(entries)
        self._getrandbits = new_rng(rng).getrandbits

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        return self._endpoints

    @property
    def ring_size(self) -> int:
        """Number of ring entries (Envoy's ``ring_hash_lb.size`` gauge)."""
        return self._size

    def pick(
        self, hash_key: int | None = None, exclude: Container[str] | None = None
    ) -> Endpoint | None:
        """The owner of ``hash_key`` on the ring; a random point when there is no key.

        Envoy: "if the hash policy produces no hash, a random value is used".
        """
        size = self._size
        if size == 0:
            return None
        h = self._getrandbits(64) if hash_key is None else hash_key & MASK64
        i = bisect_left(self._hashes, h)
        if i == size:
            i = 0
        endpoint = self._owners[i]
        if not exclude or endpoint.key not in exclude:
            return endpoint
        if not any_eligible(self._keys, exclude):
            return None
        owners = self._owners
        for step in range(1, size):
            endpoint = owners[(i + step) % size]
            if endpoint.key not in exclude:
                return endpoint
        return None  # pragma: no cover - unreachable after any_eligible
