"""Deterministic mode: one seed for the mesh's random choices, back-off waits scaled."""

from __future__ import annotations

import pytest

from inmesh._entropy import BACKOFF, RNG
from inmesh.balancing import WeightedChoice
from inmesh.testing import deterministic, is_deterministic


def test_the_same_seed_makes_the_same_weighted_choices() -> None:
    choice = WeightedChoice([90, 10])  # built before the seed: it reads the shared source
    with deterministic(3):
        first = [choice.choose() for _ in range(200)]
    with deterministic(3):
        second = [choice.choose() for _ in range(200)]
    assert first == second and 1 in first and 0 in first


def test_backoff_scale_is_set_and_restored() -> None:
    assert BACKOFF.scale == 1.0 and not is_deterministic()
    with deterministic(backoff_scale=0.5):
        assert BACKOFF.scale == 0.5 and is_deterministic()
    assert BACKOFF.scale == 1.0 and not is_deterministic()
    with (
        pytest.raises(ValueError, match="backoff_scale must not be negative"),
        deterministic(backoff_scale=-1),
    ):
        pass


def test_after_the_block_the_source_is_reseeded() -> None:
    with deterministic(1):
        a = RNG.random()
    with deterministic(1):
        assert RNG.random() == a
        seeded = RNG.getstate()
    assert RNG.getstate() != seeded  # re-seeded from the OS after the block


def test_retries_wait_the_scaled_backoff_but_timeouts_are_never_shortened() -> None:
    from inmesh.outbound._call import _backoff
    from inmesh.resilience import Step

    assert _backoff(Step.RETRY, 0.2) == 0.2
    with deterministic(backoff_scale=0.0):
        assert _backoff(Step.RETRY, 0.2) == 0.0
        assert _backoff(Step.TIMEOUT, 0.2) == 0.2  # the wait to the route deadline
    with deterministic(backoff_scale=0.5):
        assert _backoff(Step.RETRY, 0.2) == 0.1
