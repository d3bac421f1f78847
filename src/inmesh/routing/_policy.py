"""DestinationRule selection and traffic-policy merging, as Istio does them.

Lookup (Istio's DestinationRule precedence): among the rules visible to the client whose
``host`` matches the destination (exact name before the most specific wildcard), the one in
the client's namespace wins, then one in the service's namespace, then one in the root
namespace ``istio-system``, then any other visible one.

Merge (Istio's ``MergeTrafficPolicy``): start from the rule's top-level policy, let the
top-level ``portLevelSettings`` entry for the destination port override connectionPool,
loadBalancer, outlierDetection and tls; then let the subset's policy override those fields
it sets, and the subset's own port-level entry override again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._hosts import host_matches, to_fqdn
from ._services import visible

ROOT_NAMESPACE = "istio-system"
_PORT_FIELDS = ("connection_pool", "load_balancer", "outlier_detection", "tls")
_POLICY_FIELDS = (*_PORT_FIELDS, "retry_budget")


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    """The traffic policy in force for one (host, subset, port): Istio model objects."""

    load_balancer: Any = None
    connection_pool: Any = None
    outlier_detection: Any = None
    tls: Any = None
    retry_budget: Any = None


class DestinationRules:
    """The DestinationRules visible to one client, with Istio's lookup precedence."""

    def __init__(
        self, rules: Iterable[Any], client_namespace: str, client_labels: Mapping[str, str]
    ) -> None:
        self._client_ns = client_namespace
        self._rules: list[tuple[str, Any]] = []
        for dr in rules:
            spec = dr.spec
            if not visible(spec.export_to, dr.namespace, client_namespace):
                continue
            sel = spec.workload_selector
            if sel is not None:
                # A DestinationRule with a workloadSelector applies only to the selected
                # workloads of its own namespace.
                if dr.namespace != client_namespace:
                    continue
                if any(client_labels.get(k) != v for k, v in (sel.match_labels or {}).items()):
                    continue
            self._rules.append((to_fqdn(spec.host, dr.namespace), dr))

    def lookup(self, host: str, service_namespace: str) -> Any | None:
        """The DestinationRule for ``host`` (a canonical host name), or None."""
        matches = [(pat, dr) for pat, dr in self._rules if host_matches(pat, host)]
        if not matches:
            return None
        pool = [(p, dr) for p, dr in matches if p == host]
        if not pool:  # no exact rule: the most specific wildcard
            longest = max(len(p) for p, _ in matches)
            pool = [(p, dr) for p, dr in matches if len(p) == longest]
        for ns in (self._client_ns, service_namespace, ROOT_NAMESPACE):
            for _, dr in pool:
                if dr.namespace == ns:
                    return dr
        return pool[0][1]


def _apply(base: dict[str, Any], policy: Any, fields: tuple[str, ...]) -> None:
    for f in fields:
        v = getattr(policy, f, None)
        if v is not None:
            base[f] = v


def _port_level(policy: Any, port: int) -> Any | None:
    for pls in policy.port_level_settings or ():
        if pls.port is not None and pls.port.number == port:
            return pls
    return None


def merge_policy(dr: Any | None, subset: str | None, port: int) -> EffectivePolicy:
    """The effective policy of ``dr`` for ``subset`` on ``port`` (Istio's merge order)."""
    if dr is None:
        return EffectivePolicy()
    fields: dict[str, Any] = {}
    top = dr.spec.traffic_policy
    if top is not None:
        _apply(fields, top, _POLICY_FIELDS)
        pls = _port_level(top, port)
        if pls is not None:
            _apply(fields, pls, _PORT_FIELDS)
    if subset is not None:
        for s in dr.spec.subsets or ():
            if s.name == subset and s.traffic_policy is not None:
                _apply(fields, s.traffic_policy, _POLICY_FIELDS)
                pls = _port_level(s.traffic_policy, port)
                if pls is not None:
                    _apply(fields, pls, _PORT_FIELDS)
    return EffectivePolicy(**{k: v for k, v in fields.items() if k in EffectivePolicy.__slots__})


def subset_labels(dr: Any | None, subset: str) -> Mapping[str, str] | None:
    """The labels of ``subset`` in ``dr``, or None when the rule does not define it."""
    if dr is None:
        return None
    for s in dr.spec.subsets or ():
        if s.name == subset:
            return dict(s.labels or {})
    return None
