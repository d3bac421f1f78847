"""MAGLEV: Envoy's weighted Maglev lookup table.

Construction follows Envoy's ``MaglevTable`` (Eisenbud et al., NSDI 2016, listing 1, with
Envoy's weighting): hosts sorted by key; each gets ``offset = h0(key) % M`` and
``skip = h1(key) % (M - 1) + 1``, i.e. a permutation of the ``M`` slots (``M`` prime, so
every skip generates all slots). Rounds fill the table: in round ``r`` a host takes its
next free preferred slot when ``r * w >= target`` and then raises ``target`` by the
largest normalized weight, so the heaviest host fills one slot per round and a host of a
third of that weight one every third round. Lookup is ``table[hash % M]``.

Exclusion follows Envoy's retry rule for hash balancers: attempt ``a`` looks up
``hash ^ (2**64 - a)``, which lands on an unrelated slot; after :data:`_REHASH_ATTEMPTS`
the table is walked forward from the original slot, which always finds an eligible host.
"""

from __future__ import annotations

import random
from collections.abc import Container, Sequence

from ._balancer import any_eligible, endpoint_weights, new_rng
from ._endpoint import Endpoint
from ._hashing import MASK64, hash_seeded
from ._policy import DEFAULT_MAGLEV_TABLE_SIZE, is_prime

_REHASH_ATTEMPTS = 8
_OFFSET_SEED = b"maglev-offset"  # Envoy: xxHash64(key, seed 0)
_SKIP_SEED = b"maglev-skip"  # Envoy: xxHash64(key, seed 1)


def maglev_table(
    endpoints: Sequence[Endpoint], weights: Sequence[float], table_size: int
) -> list[int]:
    """The lookup table as endpoint indexes (``table_size`` long, prime)."""
    if not is_prime(table_size):
        raise ValueError(f"maglev table size must be prime, got {table_size}")
    if not endpoints:
        return []
    m = table_size
    order = sorted(range(len(endpoints)), key=lambda i: endpoints[i].key)  # stable fill order
    total = sum(weights)
    norm = [weights[i] / total for i in order]
    max_w = max(norm)
    offsets = [hash_seeded(endpoints[i].key, _OFFSET_SEED) % m for i in order]
    skips = [hash_seeded(endpoints[i].key, _SKIP_SEED) % (m - 1) + 1 for i in order]
    # The next candidate slot of each host: permutation(next) = (offset + skip * next) % m,
    # advanced incrementally.
    slot = list(offsets)
    target = [0.0] * len(order)
    table = [-1] * m
    filled = 0
    rnd = 1
    while filled < m:
        for h, idx in enumerate(order):
            if rnd * norm[h] < target[h]:
                continue
            target[h] += max_w
            c = slot[h]
            skip = skips[h]
            while table[c] >= 0:
                c = (c + skip) % m
            table[c] = idx
            slot[h] = (c + skip) % m
            filled += 1
            if filled == m:
                break
        rnd += 1
    return table


class MaglevBalancer:
    """Consistent hashing by table lookup: a pick is one modulo and one index."""

    __slots__ = ("_endpoints", "_getrandbits", "_keys", "_size", "_table")

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        *,
        table_size: int = DEFAULT_MAGLEV_TABLE_SIZE,
        rng: random.Random | None = None,
        weights: Sequence[float] | None = None,
    ) -> None:
        self._endpoints = tuple(endpoints)
        self._keys = tuple(e.key for e in self._endpoints)
        ws = endpoint_weights(self._endpoints, weights)
        indexes = maglev_table(self._endpoints, ws, table_size)
        self._table = tuple(self._endpoints[i] for i in indexes)
        self._size = table_size
        self._getrandbits = new_rng(rng).getrandbits

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        return self._endpoints

    @property
    def table(self) -> tuple[Endpoint, ...]:
        """The lookup table (for tests and debugging)."""
        return self._table

    def pick(
        self, hash_key: int | None = None, exclude: Container[str] | None = None
    ) -> Endpoint | None:
        """``table[hash_key % M]``; a random slot when there is no key (as Envoy)."""
        table = self._table
        if not table:
            return None
        size = self._size
        h = self._getrandbits(64) if hash_key is None else hash_key & MASK64
        endpoint = table[h % size]
        if not exclude or endpoint.key not in exclude:
            return endpoint
        if not any_eligible(self._keys, exclude):
            return None
        for attempt in range(1, _REHASH_ATTEMPTS + 1):
            endpoint = table[(h ^ ((1 << 64) - attempt)) % size]
            if endpoint.key not in exclude:
                return endpoint
        start = h % size
        for step in range(1, size):
            endpoint = table[(start + step) % size]
            if endpoint.key not in exclude:
                return endpoint
        return None  # pragma: no cover - unreachable after any_eligible
