"""DestinationRule ``loadBalancer``: simple policies, consistent hashing, locality settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field, model_validator
from typing_extensions import Self

from inmesh.config._base import Bool, IstioModel, Str, UInt32, UInt64, Violations
from inmesh.config._duration import Duration, MsDuration, ZeroOkDuration

__all__ = [
    "ConsistentHashLB",
    "HTTPCookie",
    "HTTPCookieAttribute",
    "LoadBalancerSettings",
    "LocalityDistribute",
    "LocalityFailover",
    "LocalityLoadBalancerSetting",
    "MagLev",
    "RingHash",
    "WarmupConfiguration",
    "ZoneAwareLoadBalancerSetting",
]

SimpleLB = Literal[
    "UNSPECIFIED", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST", "LEAST_CONN"
]
MAGLEV_MAX_TABLE_SIZE = 5000011
# Labels that name Istio's locality levels (a failoverPriority may not repeat them with failover).
_TOPOLOGY_LABELS = (
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
    "topology.istio.io/subzone",
)


def _is_prime(x: int) -> bool:
    # Envoy's (and Istio's) isPrime, so table sizes are judged the same way.
    if 0 < x < 4:
        return True
    if x % 2 == 0:
        return False
    factor = 3
    while factor * factor <= x:
        if x % factor == 0:
            return False
        factor += 2
    return True


class HTTPCookieAttribute(IstioModel):
    """An attribute added to a generated hash cookie (``SameSite``, ``Secure``...)."""

    name: Str
    value: Str | None = None


class HTTPCookie(IstioModel):
    """Hash on a cookie; with ``ttl`` the proxy generates it when absent."""

    name: Str
    path: Str | None = None
    ttl: ZeroOkDuration | None = None
    attributes: tuple[HTTPCookieAttribute, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Self:
        problems = Violations()
        if not self.name:
            problems.add("name required for HttpCookie", "name")
        problems.raise_if_any()
        return self


class RingHash(IstioModel):
    """Ketama ring hashing; ``minimumRingSize`` virtual nodes (Envoy's default 1024)."""

    minimum_ring_size: UInt64 | None = None


class MagLev(IstioModel):
    """Maglev hashing with a prime ``tableSize`` (Envoy's default 65537)."""

    table_size: UInt64 | None = None


class ConsistentHashLB(IstioModel):
    """Sticky balancing: hash one request property (the key) onto endpoints.

    The key is one of ``httpHeaderName``, ``httpCookie``, ``useSourceIp``,
    ``httpQueryParameterName``; the algorithm is ``ringHash`` or ``maglev``.
    """

    http_header_name: Str | None = None
    http_cookie: HTTPCookie | None = None
    use_source_ip: Bool | None = None
    http_query_parameter_name: Str | None = None
    ring_hash: RingHash | None = None
    maglev: MagLev | None = None
    #: Deprecated; use ``ringHash.minimumRingSize``.
    minimum_ring_size: UInt64 | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        # Istio's oneofs hash_key and hash_algorithm, and validation.go validateLoadBalancer.
        problems = Violations()
        keys = [
            alias
            for field, alias in (
                ("http_header_name", "httpHeaderName"),
                ("http_cookie", "httpCookie"),
                ("use_source_ip", "useSourceIp"),
                ("http_query_parameter_name", "httpQueryParameterName"),
            )
            if getattr(self, field) is not None
        ]
        if len(keys) > 1:
            problems.add(f"only one hash key may be set, got {' and '.join(keys)}")
        if self.ring_hash is not None and self.maglev is not None:
            problems.add("only one of ringHash or maglev may be set")
        if self.minimum_ring_size and (self.ring_hash is not None or self.maglev is not None):
            problems.add(
                "only one of minimumRingSize or maglev/ringHash can be specified", "minimumRingSize"
            )
        if self.maglev is not None:
            size = self.maglev.table_size or 0
            if size == 0:
                problems.add("tableSize must be set for maglev", "maglev", "tableSize")
            elif size >= MAGLEV_MAX_TABLE_SIZE:
                problems.add(
                    f"tableSize must be less than {MAGLEV_MAX_TABLE_SIZE} for maglev",
                    "maglev",
                    "tableSize",
                )
            elif not _is_prime(size):
                problems.add("tableSize must be a prime number for maglev", "maglev", "tableSize")
        problems.raise_if_any()
        return self


class LocalityDistribute(IstioModel):
    """Traffic from locality ``from`` is split over localities ``to`` (weights sum to 100)."""

    from_: Str | None = Field(default=None, alias="from")
    to: Mapping[str, UInt32] = Field(default_factory=dict)


class LocalityFailover(IstioModel):
    """When region ``from`` has no healthy endpoint, fail over to region ``to``."""

    from_: Str | None = Field(default=None, alias="from")
    to: Str | None = None


def _check_locality_patterns(
    localities: list[tuple[tuple[str | int, ...], str]], problems: Violations
) -> None:
    """agent.validateLocalities: ``region/zone/subzone``, one trailing ``*`` at most, no repeats."""
    seen: set[str] = set()
    for loc, locality in localities:
        stars = locality.count("*")
        if stars > 1 or (stars == 1 and not locality.endswith("*")):
            problems.add(
                f"locality {locality} wildcard '*' number can not exceed 1 and must be in the end",
                *loc,
            )
        if locality != "*" and "" in locality.rstrip("*").rstrip("/").split("/"):
            problems.add(
                f"locality {locality} must not contain empty region/zone/subzone info", *loc
            )
        if locality in seen or "*" in seen:
            problems.add(f"locality {locality} overlap with previous specified ones", *loc)
        seen.add(locality)


class LocalityLoadBalancerSetting(IstioModel):
    """Locality-weighted distribution, or ordered failover between localities."""

    distribute: tuple[LocalityDistribute, ...] = ()
    failover: tuple[LocalityFailover, ...] = ()
    failover_priority: tuple[Str, ...] = ()
    enabled: Bool | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        # agent.ValidateLocalityLbSetting.
        problems = Violations()
        if self.distribute and self.failover:
            problems.add("can not simultaneously specify 'distribute' and 'failover'")
        if self.failover:
            for i, label in enumerate(self.failover_priority):
                if label in _TOPOLOGY_LABELS:
                    problems.add(
                        f"can not simultaneously set 'failover' and topology label "
                        f"'{label}' in 'failover_priority'",
                        "failoverPriority",
                        i,
                    )
        sources: list[tuple[tuple[str | int, ...], str]] = []
        for i, rule in enumerate(self.distribute):
            sources.append((("distribute", i, "from"), rule.from_ or ""))
            for locality, weight in rule.to.items():
                if not 1 <= weight <= 100:
                    problems.add(
                        "locality weight must be in range [1, 100]", "distribute", i, "to", locality
                    )
            if sum(rule.to.values()) != 100:
                problems.add(
                    f"total locality weight {sum(rule.to.values())} != 100", "distribute", i, "to"
                )
            _check_locality_patterns([(("distribute", i, "to", k), k) for k in rule.to], problems)
        _check_locality_patterns(sources, problems)
        for i, failover in enumerate(self.failover):
            source, target = failover.from_ or "", failover.to or ""
            if source == target:
                problems.add(
                    "locality lb failover settings must specify different regions", "failover", i
                )
            if "/" in source or "/" in target:
                problems.add("locality lb failover only specify region", "failover", i)
            if "*" in source or "*" in target:
                problems.add(
                    "locality lb failover region should not contain '*' wildcard", "failover", i
                )
        problems.raise_if_any()
        return self


class ZoneAwareLoadBalancerSetting(IstioModel):
    """Envoy's zone-aware routing settings (``loadBalancer.zoneAwareLbSetting``)."""

    enabled: Bool | None = None
    failover: tuple[LocalityFailover, ...] = ()
    failover_priority: tuple[Str, ...] = ()
    min_cluster_size: Annotated[int, Field(ge=1, le=2**32 - 1, strict=True)] | None = None


class WarmupConfiguration(IstioModel):
    """Slow start: ramp traffic to new endpoints over ``duration``."""

    duration: Duration
    minimum_percent: Annotated[float, Field(ge=0.0, le=100.0, strict=True)] | None = None
    aggression: Annotated[float, Field(ge=0.0, strict=True)] | None = None


class LoadBalancerSettings(IstioModel):
    """How endpoints are picked: a ``simple`` policy or a ``consistentHash`` (not both)."""

    simple: SimpleLB | None = None
    consistent_hash: ConsistentHashLB | None = None
    locality_lb_setting: LocalityLoadBalancerSetting | None = None
    zone_aware_lb_setting: ZoneAwareLoadBalancerSetting | None = None
    warmup_duration_secs: MsDuration | None = None
    warmup: WarmupConfiguration | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        problems = Violations()
        if self.simple is not None and self.consistent_hash is not None:
            problems.add("only one of simple or consistentHash may be set")
        if self.warmup is not None and self.warmup_duration_secs is not None:
            problems.add("only one of warmup or warmupDurationSecs may be set", "warmup")
        problems.raise_if_any()
        return self
