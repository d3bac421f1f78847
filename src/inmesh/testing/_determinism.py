"""Deterministic mode: one seed for every random choice, and back-off waits shortened.

stamina's testing mode is the model: part of the API, on in tests, off in production.
Every random draw of the mesh (route weights, balancers, back-off jitter, fault and mirror
percentages, the percentages of :mod:`inmesh.testing` faults) reads one generator
(``inmesh._entropy.RNG``); ``deterministic(seed=0)`` re-seeds it in place, so a test makes
the same choices on every run, and multiplies every retry back-off by ``backoff_scale``
(default 0: retries follow each other at once; route timeouts are never shortened).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

from .._entropy import BACKOFF, RNG

_active: list[tuple[int, float]] = []


@contextmanager
def deterministic(seed: int = 0, *, backoff_scale: float = 0.0) -> Iterator[None]:
    """Seed the mesh's random choices with ``seed`` and scale retry back-off waits by
    ``backoff_scale`` for the block; restored (and re-seeded from the OS) after it.

    Create the Mesh (or Sandbox) inside the block: balancers draw their start positions
    when a configuration is compiled.
    """
    if backoff_scale < 0:
        raise ValueError(f"backoff_scale must not be negative, not {backoff_scale}")
    previous = BACKOFF.scale
    RNG.seed(seed)
    BACKOFF.scale = backoff_scale
    _active.append((seed, backoff_scale))
    try:
        yield
    finally:
        _active.pop()
        BACKOFF.scale = previous
        if not _active:
            RNG.seed(random.SystemRandom().getrandbits(64))


def is_deterministic() -> bool:
    """Whether a :func:`deterministic` block is in force."""
    return bool(_active)
