"""Load balancing: which endpoint of a destination serves a request (sans-IO, hot path).

Pure decisions, no I/O and no config models: the snapshot compiler translates a
DestinationRule's ``loadBalancer`` into a :class:`BalancerPolicy` (and its
``localityLbSetting`` into a :class:`LocalitySetting`), builds one balancer per
destination per snapshot, and the request path calls ``pick``.

- :func:`make_balancer`: LEAST_REQUEST, ROUND_ROBIN, RANDOM, RING_HASH, MAGLEV, following
  Envoy's algorithms (one module each).
- :class:`LocalityBalancer`: Istio's locality failover / distribute on top of those.
- :class:`WeightedChoice`: a VirtualService route's weighted destinations.
- :class:`HashPolicy` (``consistentHash``): the request part to hash, and
  :func:`hash_value`, the deterministic hash of it.
"""

from ._balancer import Balancer, NoEndpoints
from ._endpoint import Endpoint
from ._factory import make_balancer
from ._hash_policy import HashPolicy, HashSource, hash_policy
from ._hashing import hash_value
from ._least_request import LeastRequestBalancer
from ._locality import LocalityBalancer, priority_loads
from ._locality_setting import (
    Distribute,
    Failover,
    LocalitySetting,
    distribute_weights,
    failover_priorities,
    locality_match,
)
from ._maglev import MaglevBalancer
from ._policy import BalancerKind, BalancerPolicy, balancer_kind
from ._random import RandomBalancer
from ._ring_hash import RingHashBalancer
from ._round_robin import RoundRobinBalancer
from ._stats import ActiveRequests
from ._weighted_choice import WeightedChoice

__all__ = [
    "ActiveRequests",
    "Balancer",
    "BalancerKind",
    "BalancerPolicy",
    "Distribute",
    "Endpoint",
    "Failover",
    "HashPolicy",
    "HashSource",
    "LeastRequestBalancer",
    "LocalityBalancer",
    "LocalitySetting",
    "MaglevBalancer",
    "NoEndpoints",
    "RandomBalancer",
    "RingHashBalancer",
    "RoundRobinBalancer",
    "WeightedChoice",
    "balancer_kind",
    "distribute_weights",
    "failover_priorities",
    "hash_policy",
    "hash_value",
    "locality_match",
    "make_balancer",
    "priority_loads",
]
