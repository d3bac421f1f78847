"""The load-balancing policy of one destination, as plain data.

The snapshot compiler translates a DestinationRule's ``trafficPolicy.loadBalancer`` into
a :class:`BalancerPolicy`; the balancers never see the config models. Defaults and limits
are Envoy's, so a policy that Envoy would reject is rejected here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast, get_args

from .._errors import ConfigError, ConfigProblem

BalancerKind = Literal["LEAST_REQUEST", "ROUND_ROBIN", "RANDOM", "RING_HASH", "MAGLEV"]
KINDS: frozenset[str] = frozenset(get_args(BalancerKind))

# Envoy's defaults and bounds (RingHashLbConfig, MaglevLbConfig, LeastRequestLbConfig).
DEFAULT_MIN_RING_SIZE = 1024
MAX_RING_SIZE = 8 * 1024 * 1024  # "limited to 8M entries"
DEFAULT_MAGLEV_TABLE_SIZE = 65537
MAX_MAGLEV_TABLE_SIZE = 5000011  # MaglevLbConfig.table_size: "limited to 5000011"
DEFAULT_CHOICE_COUNT = 2

# Istio's LoadBalancerSettings.SimpleLB names that map onto another kind.
_ALIASES: dict[str, BalancerKind] = {
    "UNSPECIFIED": "LEAST_REQUEST",  # "the default": Istio >= 1.14 uses LEAST_REQUEST
    "LEAST_CONN": "LEAST_REQUEST",  # deprecated alias, same Envoy policy
}


def _problem(message: str, field: str) -> ConfigError:
    return ConfigError([ConfigProblem(message, field=f"trafficPolicy.loadBalancer.{field}")])


def balancer_kind(simple: str | None) -> BalancerKind:
    """Istio's ``loadBalancer.simple`` value as a :data:`BalancerKind`.

    ``None``/``UNSPECIFIED`` give Istio's default (LEAST_REQUEST), ``LEAST_CONN`` is its
    deprecated alias. ``PASSTHROUGH`` never gets here: the support table refuses it
    (``inmesh.config``'s UNSUPPORTED_VALUES) before anything is compiled.
    """
    if simple is None:
        return "LEAST_REQUEST"
    name = simple.upper()
    if name in _ALIASES:
        return _ALIASES[name]
    if name in KINDS:
        return cast(BalancerKind, name)
    raise _problem(f"unknown load balancer {simple!r}; expected one of {sorted(KINDS)}", "simple")


def is_prime(n: int) -> bool:
    """Trial division: table sizes are at most a few million, checked once per snapshot."""
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    f = 3
    while f * f <= n:
        if n % f == 0:
            return False
        f += 2
    return True


@dataclass(frozen=True, slots=True)
class BalancerPolicy:
    """Which balancer a destination uses, with its tunables (Envoy's defaults).

    ``minimum_ring_size``/``maximum_ring_size`` apply to RING_HASH, ``maglev_table_size``
    (a prime, Envoy's rule) to MAGLEV, ``choice_count`` to LEAST_REQUEST's N-choices pick.
    Invalid values raise :class:`~inmesh.ConfigError` at construction.
    """

    kind: BalancerKind = "LEAST_REQUEST"
    minimum_ring_size: int = DEFAULT_MIN_RING_SIZE
    maximum_ring_size: int = MAX_RING_SIZE
    maglev_table_size: int = DEFAULT_MAGLEV_TABLE_SIZE
    choice_count: int = DEFAULT_CHOICE_COUNT

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise _problem(
                f"unknown balancer kind {self.kind!r}; expected one of {sorted(KINDS)}", "simple"
            )
        if not 1 <= self.minimum_ring_size <= MAX_RING_SIZE:
            raise _problem(
                f"minimumRingSize must be in 1..{MAX_RING_SIZE}, got {self.minimum_ring_size}",
                "consistentHash.minimumRingSize",
            )
        if not self.minimum_ring_size <= self.maximum_ring_size <= MAX_RING_SIZE:
            # Envoy: "ring hash: minimum_ring_size (N) > maximum_ring_size (M)".
            raise _problem(
                f"maximumRingSize must be in minimumRingSize "
                f"({self.minimum_ring_size})..{MAX_RING_SIZE}, got "
                f"{self.maximum_ring_size}",
                "consistentHash.ringHash",
            )
        if not is_prime(self.maglev_table_size) or self.maglev_table_size > MAX_MAGLEV_TABLE_SIZE:
            raise _problem(
                f"maglev tableSize must be a prime number at most "
                f"{MAX_MAGLEV_TABLE_SIZE}, got {self.maglev_table_size}",
                "consistentHash.maglev.tableSize",
            )
        if self.choice_count < 2:
            raise _problem(
                f"choiceCount must be at least 2, got {self.choice_count}",
                "leastRequest.choiceCount",
            )

    @property
    def is_hashing(self) -> bool:
        """RING_HASH and MAGLEV: the pick is a function of ``hash_key``."""
        return self.kind in ("RING_HASH", "MAGLEV")
