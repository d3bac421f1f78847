"""The contract every balancer meets, and the pieces they share.

A balancer is built once per configuration snapshot over a fixed sequence of endpoints and
then answers many ``pick`` calls: all the work that does not depend on the request is done
in ``__init__``. ``pick`` never raises for an ordinary request; it returns ``None`` when no
endpoint is eligible, and the caller answers as a sidecar would (503, flag ``UH``).
"""

from __future__ import annotations

import random
from collections.abc import Container, Sequence
from typing import Protocol

from .._entropy import RNG
from .._errors import ConfigError, ConfigProblem
from ._endpoint import Endpoint


class Balancer(Protocol):
    """Chooses one endpoint per request.

    ``hash_key`` is the request's consistent-hash key (see :func:`hash_value`); only
    RING_HASH and MAGLEV use it. ``exclude`` holds endpoint keys (``address:port``) that
    must not be chosen: hosts ejected by outlier detection, or hosts a retry already tried
    (``retryIgnorePreviousHosts``). The result is ``None`` only when every endpoint is
    excluded (or there are none).
    """

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        """Every endpoint this balancer can return."""
        ...

    def pick(
        self, hash_key: int | None = None, exclude: Container[str] | None = None
    ) -> Endpoint | None:
        """One eligible endpoint, or None if there is none."""
        ...


class NoEndpoints:
    """The balancer of a destination without endpoints: every pick is ``None``."""

    __slots__ = ()

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        return ()

    def pick(
        self, hash_key: int | None = None, exclude: Container[str] | None = None
    ) -> Endpoint | None:
        return None


def new_rng(rng: random.Random | None) -> random.Random:
    """The caller's generator (tests pass a seeded one), else the mesh's one source
    (``inmesh._entropy.RNG``, which deterministic tests re-seed in place)."""
    return rng if rng is not None else RNG


def endpoint_weights(
    endpoints: Sequence[Endpoint], weights: Sequence[float] | None = None
) -> list[float]:
    """Each endpoint's load-balancing weight, validated (Envoy: weight >= 1).

    ``weights`` overrides ``Endpoint.weight`` (the locality balancer passes Envoy's
    normalized host-times-locality weights to the hashing balancers).
    """
    if weights is None:
        ws = [float(e.weight) for e in endpoints]
    else:
        if len(weights) != len(endpoints):
            raise ValueError(f"{len(weights)} weights for {len(endpoints)} endpoints")
        ws = [float(w) for w in weights]
    for e, w in zip(endpoints, ws, strict=True):
        if not w > 0:
            raise ConfigError(
                [
                    ConfigProblem(
                        f"endpoint {e.key}: weight must be positive, got {w:g}", field="weight"
                    )
                ]
            )
    return ws


def any_eligible(keys: Sequence[str], exclude: Container[str]) -> bool:
    """Whether some key is not excluded: the guard before a bounded walk for one."""
    return any(k not in exclude for k in keys)
