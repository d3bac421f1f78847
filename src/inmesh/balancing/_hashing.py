"""Deterministic 64-bit hashing for the consistent-hash balancers.

Envoy hashes with xxHash64; the standard library has no xxHash, so inmesh uses BLAKE2b cut
to 8 bytes. Both are stable across processes and machines (unlike Python's salted
``hash``), which is what consistent hashing needs: every client process must map the same
key to the same ring position. Positions differ from an Envoy sidecar's, so an inmesh
client and an Envoy client do not share affinity for the same key.
"""

from __future__ import annotations

from hashlib import blake2b

MASK64 = (1 << 64) - 1


def hash_value(data: str | bytes) -> int:
    """A 64-bit unsigned hash of ``data``, the same in every process.

    The router hashes the ``consistentHash`` source (header value, cookie, query
    parameter, source IP) with this and passes the result as ``hash_key`` to ``pick``.
    """
    raw = data.encode() if isinstance(data, str) else data
    return int.from_bytes(blake2b(raw, digest_size=8).digest(), "little")


def hash_seeded(data: str, seed: bytes) -> int:
    """``hash_value`` in an independent family named by ``seed`` (at most 16 bytes).

    Maglev needs two unrelated hashes per host (Envoy: xxHash64 with seeds 0 and 1); the
    BLAKE2b personalization string plays the seed.
    """
    return int.from_bytes(blake2b(data.encode(), digest_size=8, person=seed).digest(), "little")
