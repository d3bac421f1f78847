"""Istio's ``localityLbSetting`` as data, and the pure rules that turn it into Envoy terms.

Istio does not balance by locality itself: it rewrites the endpoints it sends Envoy,
giving each group of endpoints a *priority* (failover) or a *locality weight*
(distribute), and Envoy does the rest. The functions here are that rewrite, following
pilot's ``loadbalancer.ApplyLocalityLoadBalancer``:

* ``distribute`` (one rule, the first whose ``from`` matches the client): each endpoint
  locality matched by a ``to`` pattern gets ``ceil(its own weight * pattern weight /
  weight of all localities the pattern matched)``; unmatched localities get no traffic.
* ``failover`` (the default mode): priority 0 = same region/zone/subzone, 1 = same
  region/zone, 2 = same region, 3 = other regions, except that when a ``failover`` entry
  names the client's region as ``from``, regions other than its ``to`` drop to 4.
* ``failoverPriority``: an ordered label list; an endpoint whose first mismatching label
  is at position ``j`` (of ``n``) gets ``n - j``, one matching all gets 0. Combined with
  ``failover``, the final priority is ``label_priority * 5 + locality_priority``.

Priorities are then renumbered 0..N without gaps, as Istio does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .._errors import ConfigError, ConfigProblem
from ._endpoint import Endpoint

Locality = tuple[str, str, str]

# Labels Istio adds to every proxy and endpoint (pilot's labelutil.AugmentLabels), so
# failoverPriority can name them.
REGION_LABEL = "topology.kubernetes.io/region"
ZONE_LABEL = "topology.kubernetes.io/zone"
SUBZONE_LABEL = "topology.istio.io/subzone"
NETWORK_LABEL = "topology.istio.io/network"
_TOPOLOGY_LABELS = frozenset({REGION_LABEL, ZONE_LABEL, SUBZONE_LABEL})
_FIELD = "trafficPolicy.loadBalancer.localityLbSetting"


@dataclass(frozen=True, slots=True)
class Distribute:
    """Traffic from localities matching ``from_`` goes to ``to`` localities by weight.

    Patterns are ``region/zone/subzone`` with one terminal ``*`` allowed (``*``,
    ``us-west/*``, ``us-west/zone-1/*``); ``to`` weights are 1..100 and sum to 100.
    """

    from_: str
    to: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Failover:
    """When the client's region ``from_`` fails, go to region ``to`` before any other."""

    from_: str
    to: str


@dataclass(frozen=True, slots=True)
class LocalitySetting:
    """Istio's ``LocalityLoadBalancerSetting``, validated as Istio validates it.

    ``enabled=False`` turns locality balancing off for the destination. The default value
    is Istio's mesh default: enabled, nothing configured (so prioritized failover applies
    whenever outlier detection is configured).
    """

    distribute: tuple[Distribute, ...] = ()
    failover: tuple[Failover, ...] = ()
    failover_priority: tuple[str, ...] = ()
    enabled: bool = True

    def __post_init__(self) -> None:
        problems = [ConfigProblem(msg, field=f"{_FIELD}.{where}") for where, msg in _check(self)]
        if problems:
            raise ConfigError(problems)


def _check(s: LocalitySetting) -> list[tuple[str, str]]:
    """Istio's ``validateLocalityLbSetting``, as (field, message) pairs."""
    out: list[tuple[str, str]] = []
    if s.distribute and s.failover:
        return [("distribute", "can not simultaneously specify 'distribute' and 'failover'")]
    if s.distribute and s.failover_priority:
        return [
            ("distribute", "can not simultaneously specify 'distribute' and 'failoverPriority'")
        ]
    if s.failover:
        for name in s.failover_priority:
            if name.split("=")[0] in _TOPOLOGY_LABELS:
                out.append(
                    (
                        "failoverPriority",
                        f"can not simultaneously set 'failover' and "
                        f"topology label {name!r} in 'failoverPriority'",
                    )
                )
    for i, d in enumerate(s.distribute):
        for msg in _pattern_problems(d.from_):
            out.append((f"distribute[{i}].from", msg))
        for loc, weight in d.to.items():
            for msg in _pattern_problems(loc):
                out.append((f"distribute[{i}].to", msg))
            if not 1 <= weight <= 100:
                out.append(
                    (
                        f"distribute[{i}].to",
                        f"locality weight must be in range [1, 100], got {weight} for {loc!r}",
                    )
                )
        if sum(d.to.values()) != 100:
            out.append(
                (f"distribute[{i}].to", f"total locality weight {sum(d.to.values())} != 100")
            )
    for i, f in enumerate(s.failover):
        where = f"failover[{i}]"
        if f.from_ == f.to:
            out.append((where, "locality lb failover settings must specify different regions"))
        if "/" in f.from_ or "/" in f.to:
            out.append((where, "locality lb failover only specify region"))
        if "*" in f.from_ or "*" in f.to:
            out.append((where, "locality lb failover region should not contain '*' wildcard"))
    return out


def _pattern_problems(pattern: str) -> list[str]:
    if not pattern:
        return ["locality must not be empty"]
    n = pattern.count("*")
    if n > 1 or (n == 1 and not pattern.endswith("*")):
        return [f"locality {pattern} wildcard '*' number can not exceed 1 and must be in the end"]
    return []


def split_locality(locality: str) -> Locality:
    """``region/zone/subzone`` split into three parts (missing parts are ``""``)."""
    parts = locality.split("/")
    parts += ["", ""]
    return (parts[0], parts[1], parts[2])


def locality_match(locality: str | Locality, pattern: str) -> bool:
    """Istio's ``LocalityMatch``: ``*`` matches any part; an omitted zone/subzone too."""
    region, zone, subzone = split_locality(locality) if isinstance(locality, str) else locality
    p_region, p_zone, p_subzone = split_locality(pattern)
    return (
        p_region in ("*", region) and p_zone in ("*", "", zone) and p_subzone in ("*", "", subzone)
    )


def topology_labels(labels: Mapping[str, str], locality: str, network: str) -> dict[str, str]:
    """``labels`` plus Istio's topology labels (pilot's ``AugmentLabels``).

    Region/zone/subzone come from the locality and win over labels of the same name;
    the network label is added only where the labels do not already carry one.
    """
    out = dict(labels)
    for name, value in zip(
        (REGION_LABEL, ZONE_LABEL, SUBZONE_LABEL), split_locality(locality), strict=True
    ):
        if value:
            out[name] = value
    if network and not out.get(NETWORK_LABEL):
        out[NETWORK_LABEL] = network
    return out


def locality_priority(
    client: Locality, endpoint: Locality, failover: Sequence[Failover] = ()
) -> int:
    """Istio's ``LbPriority`` (0..3) with its ``failover`` adjustment (3 -> 4)."""
    if client[0] == endpoint[0]:
        if client[1] == endpoint[1]:
            return 0 if client[2] == endpoint[2] else 1
        return 2
    for f in failover:
        if f.from_ == client[0]:
            return 3 if endpoint[0] == f.to else 4
    return 3


def label_priority(
    client_labels: Mapping[str, str],
    endpoint_labels: Mapping[str, str],
    failover_priority: Sequence[str],
) -> int:
    """Istio's ``failoverPriority`` rank: ``n - j`` for the first mismatch at ``j``, else 0.

    An entry ``key=value`` compares the endpoint with that value instead of the client's.
    """
    n = len(failover_priority)
    for j, entry in enumerate(failover_priority):
        parts = entry.split("=")
        name = parts[0]
        want = parts[1] if len(parts) == 2 else client_labels.get(name, "")
        if endpoint_labels.get(name, "") != want:
            return n - j
    return 0


def _compact(raw: Sequence[int]) -> list[int]:
    rank = {p: i for i, p in enumerate(sorted(set(raw)))}
    return [rank[p] for p in raw]


def failover_priorities(
    endpoints: Sequence[Endpoint],
    *,
    client_locality: str,
    setting: LocalitySetting,
    client_labels: Mapping[str, str] | None = None,
    client_network: str = "",
) -> list[int]:
    """Each endpoint's Envoy priority (0 = preferred) in failover mode, numbered 0..N."""
    client = split_locality(client_locality)
    by_locality = [
        locality_priority(client, split_locality(e.locality), setting.failover) for e in endpoints
    ]
    if not setting.failover_priority:
        return _compact(by_locality)
    proxy = topology_labels(client_labels or {}, client_locality, client_network)
    if not proxy:  # Istio: failoverPriority needs the proxy's labels
        raw = [0] * len(endpoints)
    else:
        raw = [
            label_priority(
                proxy, topology_labels(e.labels, e.locality, e.network), setting.failover_priority
            )
            for e in endpoints
        ]
    if setting.failover:
        raw = [p * 5 + q for p, q in zip(raw, by_locality, strict=True)]
    return _compact(raw)


def distribute_weights(
    endpoints: Sequence[Endpoint], client_locality: str, distribute: Sequence[Distribute]
) -> dict[Locality, int] | None:
    """Locality weights from the first ``distribute`` rule matching the client.

    ``None`` when no rule's ``from`` matches. Endpoint localities absent from the result
    get no traffic. A locality matched by several ``to`` patterns belongs to the first in
    the mapping's order (Istio iterates a Go map there, so its choice is unspecified).
    """
    rule = next((d for d in distribute if locality_match(client_locality, d.from_)), None)
    if rule is None:
        return None
    own: dict[Locality, int] = {}
    for e in endpoints:
        loc = split_locality(e.locality)
        own[loc] = own.get(loc, 0) + e.weight
    unclaimed = dict(own)
    out: dict[Locality, int] = {}
    for pattern, weight in rule.to.items():
        matched = [loc for loc in unclaimed if locality_match(loc, pattern)]
        total = sum(own[loc] for loc in matched)
        for loc in matched:
            del unclaimed[loc]
            out[loc] = -(-own[loc] * weight // total)  # ceil, in integers
    return out
