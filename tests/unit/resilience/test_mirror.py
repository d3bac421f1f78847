"""MirrorPolicy and shadow_authority."""

from __future__ import annotations

import math
import random
from types import SimpleNamespace

import pytest

from inmesh.resilience import MirrorPolicy, shadow_authority


def test_unset_mirrors_everything() -> None:
    p = MirrorPolicy.from_istio(None)
    assert p is not None and p.per_million == 1_000_000
    assert all(p.should_mirror(random.Random(0)) for _ in range(100))


def test_explicit_zero_disables_mirroring() -> None:
    assert MirrorPolicy.from_istio(SimpleNamespace(value=0.0)) is None
    assert MirrorPolicy.from_istio(0.0) is None
    assert MirrorPolicy.from_istio(None, legacy_percent=0) is None


def test_legacy_integer_percent() -> None:
    p = MirrorPolicy.from_istio(None, legacy_percent=SimpleNamespace(value=30))
    assert p == MirrorPolicy(300_000)


@pytest.mark.parametrize("percent", [0.1, 25.0, 50.0, 99.9])
def test_mirror_percentage_statistically(percent: float) -> None:
    p = MirrorPolicy.from_istio(SimpleNamespace(value=percent))
    assert p is not None
    rng = random.Random(2024)
    n = 100_000
    hits = sum(p.should_mirror(rng) for _ in range(n))
    q = percent / 100
    assert abs(hits - n * q) <= 6 * math.sqrt(n * q * (1 - q)) + 1


@pytest.mark.parametrize(
    ("authority", "shadow"),
    [
        ("reviews:9080", "reviews-shadow:9080"),
        ("reviews", "reviews-shadow"),
        ("reviews.default.svc.cluster.local:80", "reviews.default.svc.cluster.local-shadow:80"),
        ("127.0.0.1:8080", "127.0.0.1-shadow:8080"),
        ("[::1]:8080", "[::1]-shadow:8080"),
        ("[::1]", "[::1]-shadow"),
    ],
)
def test_shadow_authority(authority: str, shadow: str) -> None:
    assert shadow_authority(authority) == shadow
