"""When a workload renews its certificate: pure, with the clock and randomness injected.

Istio's agent (security/pkg/nodeagent/cache/secretcache.go ``rotateTime``) renews when a
grace period of ``grace_ratio`` (``SECRET_GRACE_PERIOD_RATIO``, 0.5) of the lifetime is left,
the ratio moved by a random jitter of up to ``±jitter`` (``SECRET_GRACE_PERIOD_RATIO_JITTER``,
0.01) so that a fleet does not renew at the same instant; the ratio is clamped to [0, 1].
So a 24 h certificate is renewed after about 12 h, give or take 15 minutes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["RotationSchedule"]


@dataclass(frozen=True, slots=True)
class RotationSchedule:
    """``renew_at`` / ``delay`` for a certificate received at ``created`` expiring ``expires``."""

    grace_ratio: float = 0.5
    jitter: float = 0.01

    def __post_init__(self) -> None:
        if not 0.0 <= self.grace_ratio <= 1.0:
            raise ValueError(f"grace_ratio must be within [0, 1], got {self.grace_ratio}")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter must be within [0, 1], got {self.jitter}")

    def renew_at(self, *, created: float, expires: float, rng: random.Random) -> float:
        """The time (same clock as ``created``/``expires``) to start the renewal."""
        # rotateTime: jitter = rand.Float64()*graceRatioJitter * (±1)
        jitter = rng.random() * self.jitter * (1 if rng.random() < 0.5 else -1)
        ratio = min(max(self.grace_ratio + jitter, 0.0), 1.0)
        return expires - ratio * (expires - created)

    def delay(self, *, created: float, expires: float, now: float, rng: random.Random) -> float:
        """Seconds from ``now`` until the renewal (0 when it is already due)."""
        return max(self.renew_at(created=created, expires=expires, rng=rng) - now, 0.0)
