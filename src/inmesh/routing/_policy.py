"""DestinationRule selection and traffic-policy merging, as Istio does them.

Lookup (Istio's ``PushContext.destinationRule``): among the rules visible to the client,
the client's namespace first, then the service's namespace, then the root namespace
``istio-system``; within a namespace the rule for the exact host before the most specific
wildcard. Rules in any other namespace do not apply.

Merge (Istio's ``MergeSubsetTrafficPolicy``): start from the rule's top-level policy and
let the top-level ``portLevelSettings`` entry for the destination port replace
connectionPool, loadBalancer, outlierDetection and tls (omitted ones fall back to the
defaults, they are not inherited); then let the subset's policy override the fields it
sets, its own port-level entry replacing those four again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .._namespaces import ROOT_NAMESPACE, selects, visible
from ._hosts import host_matches, to_fqdn

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


_NO_POLICY = EffectivePolicy()


class DestinationRules:
    """The DestinationRules visible to one client, indexed by (namespace, host) with
    Istio's lookup precedence: a lookup reads a few buckets, never every rule.

    Rules can be added and removed one by one (the incremental compile does); ``order``
    gives a rule key's position so that, as with Istio's creation-time ordering, the first
    rule wins among equals."""

    def __init__(
        self,
        rules: Iterable[Any] = (),
        client_namespace: str = "default",
        client_labels: Mapping[str, str] | None = None,
        *,
        order: Callable[[Any], float] | None = None,
    ) -> None:
        self._client_ns = client_namespace
        self._client_labels = client_labels or {}
        self._order = order
        self._exact: dict[tuple[str, str], dict[Any, Any]] = {}
        self._wild: dict[str, dict[Any, tuple[str, Any]]] = {}
        for i, dr in enumerate(rules):
            self.add(i, dr)
        if order is None:
            self._order = lambda key: key  # the keys above are positions

    def applies(self, dr: Any) -> bool:
        """Whether ``dr`` applies to this client at all (exportTo, workloadSelector)."""
        spec = dr.spec
        if not visible(spec.export_to, dr.namespace, self._client_ns):
            return False
        sel = spec.workload_selector
        if sel is not None:
            # A DestinationRule with a workloadSelector applies only to the selected
            # workloads of its own namespace.
            if dr.namespace != self._client_ns:
                return False
            if not selects(sel.match_labels, self._client_labels):
                return False
        return True

    @staticmethod
    def host_of(dr: Any) -> str:
        """The canonical host (or wildcard) ``dr`` names."""
        return to_fqdn(dr.spec.host, dr.namespace)

    def add(self, key: Any, dr: Any) -> None:
        if not self.applies(dr):
            return
        host = self.host_of(dr)
        if host.startswith("*"):
            self._wild.setdefault(dr.namespace, {})[key] = (host, dr)
        else:
            self._exact.setdefault((dr.namespace, host), {})[key] = dr

    def remove(self, key: Any, dr: Any) -> None:
        host = self.host_of(dr)
        if host.startswith("*"):
            self._wild.get(dr.namespace, {}).pop(key, None)
            return
        bucket = self._exact.get((dr.namespace, host))
        if bucket is not None:
            bucket.pop(key, None)
            if not bucket:
                del self._exact[(dr.namespace, host)]

    def _first(self, keys: Iterable[Any]) -> Any:
        return min(keys, key=self._order)

    def lookup(self, host: str, service_namespace: str) -> Any | None:
        """The DestinationRule for ``host`` (a canonical host name), or None."""
        for ns in (self._client_ns, service_namespace, ROOT_NAMESPACE):
            exact = self._exact.get((ns, host))
            if exact:
                return exact[self._first(exact)]
            wild = [(k, p, dr) for k, (p, dr) in self._wild.get(ns, {}).items()]
            pool = [(k, p, dr) for k, p, dr in wild if host_matches(p, host)]
            if pool:
                # no exact rule: the most specific wildcard (the first among equals)
                longest = max(len(p) for _, p, _ in pool)
                best = self._first(k for k, p, _ in pool if len(p) == longest)
                return next(dr for k, _, dr in pool if k == best)
        return None


def _fields(policy: Any, port: int) -> tuple[dict[str, Any], bool]:
    """A policy's fields for ``port``, and whether a port-level entry applied. Istio's
    GetPortLevelTrafficPolicy: the entry replaces the port fields wholesale ("default values
    will be applied to fields omitted in port-level traffic policies")."""
    out = {f: getattr(policy, f, None) for f in _POLICY_FIELDS}
    for pls in policy.port_level_settings or ():
        if pls.port is not None and pls.port.number == port:
            out.update({f: getattr(pls, f, None) for f in _PORT_FIELDS})
            return out, True
    return out, False


def merge_policy(dr: Any | None, subset: str | None, port: int) -> EffectivePolicy:
    """The effective policy of ``dr`` for ``subset`` on ``port`` (Istio's
    MergeSubsetTrafficPolicy)."""
    if dr is None:
        return _NO_POLICY
    fields: dict[str, Any] = {}
    top = dr.spec.traffic_policy
    if top is not None:
        fields, _ = _fields(top, port)
    if subset is not None:
        for s in dr.spec.subsets or ():
            if s.name == subset and s.traffic_policy is not None:
                sub, port_level = _fields(s.traffic_policy, port)
                for f, v in sub.items():
                    if v is not None or (port_level and f in _PORT_FIELDS):
                        fields[f] = v
    if not fields:
        return _NO_POLICY  # most clusters: one frozen instance, not one each
    return EffectivePolicy(**{k: v for k, v in fields.items() if k in EffectivePolicy.__slots__})


def subset_labels(dr: Any | None, subset: str) -> Mapping[str, str] | None:
    """The labels of ``subset`` in ``dr``, or None when the rule does not define it."""
    if dr is None:
        return None
    for s in dr.spec.subsets or ():
        if s.name == subset:
            return dict(s.labels or {})
    return None
