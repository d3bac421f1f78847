from __future__ import annotations

import random

import pytest

from inmesh.security import RotationSchedule


class FixedRandom(random.Random):
    def __init__(self, *values: float) -> None:
        super().__init__(0)
        self.values = list(values)

    def random(self) -> float:
        return self.values.pop(0)


def test_half_life_without_jitter() -> None:
    s = RotationSchedule(jitter=0.0)
    assert s.renew_at(created=1000.0, expires=1000.0 + 86400, rng=random.Random(1)) == 44200.0


def test_jitter_moves_the_ratio_both_ways() -> None:
    s = RotationSchedule(grace_ratio=0.5, jitter=0.1)
    # rand 1.0 * 0.1 with sign +: ratio 0.6 -> renew with 60% of the life left
    assert s.renew_at(created=0.0, expires=100.0, rng=FixedRandom(1.0, 0.2)) == pytest.approx(40.0)
    assert s.renew_at(created=0.0, expires=100.0, rng=FixedRandom(1.0, 0.7)) == pytest.approx(60.0)


def test_ratio_is_clamped() -> None:
    s = RotationSchedule(grace_ratio=1.0, jitter=0.5)
    assert s.renew_at(created=0.0, expires=100.0, rng=FixedRandom(1.0, 0.1)) == 0.0


def test_spread_stays_within_jitter() -> None:
    s = RotationSchedule()
    rng = random.Random(7)
    times = [s.renew_at(created=0.0, expires=86400.0, rng=rng) for _ in range(500)]
    assert min(times) >= 0.49 * 86400 and max(times) <= 0.51 * 86400
    assert len(set(times)) > 400


def test_delay_is_never_negative() -> None:
    s = RotationSchedule(jitter=0.0)
    assert s.delay(created=0.0, expires=100.0, now=10.0, rng=random.Random()) == 40.0
    assert s.delay(created=0.0, expires=100.0, now=90.0, rng=random.Random()) == 0.0


def test_rejects_bad_ratios() -> None:
    with pytest.raises(ValueError):
        RotationSchedule(grace_ratio=1.5)
    with pytest.raises(ValueError):
        RotationSchedule(jitter=-0.1)
