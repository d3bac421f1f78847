"""Traffic mirroring (``HTTPRoute.mirror`` / ``mirrors``): which requests, and their authority.

Istio's ``MirrorPercent`` / ``MirrorPercentByPolicy`` (pilot/pkg/networking/core/route/
route.go): ``mirrorPercentage`` (a 0..100 double) becomes an Envoy fraction per million
(``uint32(value * 10000)``); an explicit 0 means no mirroring at all; unset means every
request (100 %). The deprecated integer ``mirrorPercent`` is read when ``mirrorPercentage``
is absent.

Envoy's ``ShadowWriterImpl`` rewrites the mirrored request's authority so the shadow's logs
tell it apart: ``-shadow`` is appended to the host part, keeping the port
(``reviews:9080`` becomes ``reviews-shadow:9080``, ``[::1]:80`` becomes ``[::1]-shadow:80``).
Mirrored requests are fire and forget: the transport never waits for them and never lets
their outcome touch the original request.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Final

_PER_MILLION: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class MirrorPolicy:
    """Mirror ``per_million`` out of every million requests (default: all of them)."""

    per_million: int = _PER_MILLION

    @classmethod
    def from_istio(
        cls, percentage: Any | None = None, legacy_percent: Any | None = None
    ) -> MirrorPolicy | None:
        """The policy of a route's ``mirrorPercentage`` (or an ``HTTPMirrorPolicy``'s
        ``percentage``); ``None`` when an explicit 0 turns mirroring off."""
        if percentage is not None:
            value = float(getattr(percentage, "value", percentage) or 0.0)
            return cls(int(value * 10000)) if value > 0 else None
        if legacy_percent is not None:
            value = int(getattr(legacy_percent, "value", legacy_percent) or 0)
            return cls(value * 10000) if value > 0 else None
        return ALWAYS

    def should_mirror(self, rng: random.Random) -> bool:
        """Whether to mirror this request."""
        return self.per_million >= _PER_MILLION or rng.random() * _PER_MILLION < self.per_million


ALWAYS: Final = MirrorPolicy()
"""Mirror every request (``mirrorPercentage`` unset)."""


def shadow_authority(authority: str) -> str:
    """Envoy's shadow host: ``-shadow`` appended to the host, the port kept."""
    if authority.startswith("["):
        end = authority.find("]")
        if end != -1:
            return f"{authority[: end + 1]}-shadow{authority[end + 1 :]}"
    host, sep, port = authority.partition(":")
    if sep and ":" not in port:
        return f"{host}-shadow:{port}"
    return f"{authority}-shadow"
