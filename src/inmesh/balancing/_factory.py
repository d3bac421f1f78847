"""One place that maps a :class:`BalancerPolicy` onto a balancer class."""

from __future__ import annotations

import random
from collections.abc import Sequence

from ._balancer import Balancer, NoEndpoints
from ._endpoint import Endpoint
from ._least_request import LeastRequestBalancer
from ._maglev import MaglevBalancer
from ._policy import BalancerPolicy
from ._random import RandomBalancer
from ._ring_hash import RingHashBalancer
from ._round_robin import RoundRobinBalancer
from ._stats import ActiveRequests


def make_balancer(
    policy: BalancerPolicy,
    endpoints: Sequence[Endpoint],
    active: ActiveRequests,
    rng: random.Random | None = None,
    *,
    weights: Sequence[float] | None = None,
) -> Balancer:
    """The balancer ``policy`` names, over ``endpoints``.

    ``rng`` makes random choices reproducible (tests); by default each balancer seeds its
    own. ``weights`` overrides ``Endpoint.weight`` (used by :class:`LocalityBalancer` to
    fold locality weights into the hashing balancers, as Envoy does).
    """
    if not endpoints:
        return NoEndpoints()
    kind = policy.kind
    if kind == "LEAST_REQUEST":
        return LeastRequestBalancer(
            endpoints, active, choice_count=policy.choice_count, rng=rng, weights=weights
        )
    if kind == "ROUND_ROBIN":
        return RoundRobinBalancer(endpoints, rng=rng, weights=weights)
    if kind == "RANDOM":
        return RandomBalancer(endpoints, rng=rng, weights=weights)
    if kind == "RING_HASH":
        return RingHashBalancer(
            endpoints,
            minimum_ring_size=policy.minimum_ring_size,
            maximum_ring_size=policy.maximum_ring_size,
            rng=rng,
            weights=weights,
        )
    return MaglevBalancer(endpoints, table_size=policy.maglev_table_size, rng=rng, weights=weights)
