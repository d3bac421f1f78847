"""Cross-reference checks over a set of resources, with Istio's analyzer codes.

IST0101 ReferencedResourceNotFound (destination host, subset, gateway), IST0109
ConflictingMeshGatewayVirtualServiceHosts, IST0130 VirtualServiceUnreachableRule,
IST0131 VirtualServiceIneffectiveMatch, IST0173 DestinationRuleSubsetNotSelectPods, and
INM0001 (no Istio code) for a route whose weights are all zero.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from ..routing._hosts import host_matches, to_fqdn
from ._message import Message, resource_label


def _service_hosts(resources: Sequence[Any]) -> list[str]:
    hosts: list[str] = []
    for r in resources:
        if r.kind == "ServiceEntry":
            hosts.extend(h.lower() for h in r.spec.hosts)
        elif r.kind == "Service":
            hosts.append(to_fqdn(r.name, r.namespace))
    return hosts


def _known(host: str, hosts: list[str]) -> bool:
    return any(host_matches(h, host) or host_matches(host, h) for h in hosts)


def _subsets(resources: Sequence[Any]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for r in resources:
        if r.kind == "DestinationRule":
            out[to_fqdn(r.spec.host, r.namespace)].update(s.name for s in r.spec.subsets or ())
    return out


def _workload_labels(resources: Sequence[Any]) -> list[dict[str, str]]:
    labels: list[dict[str, str]] = []
    for r in resources:
        if r.kind == "WorkloadEntry":
            labels.append(dict(r.spec.labels or {}))
        elif r.kind == "ServiceEntry":
            labels.extend(dict(e.labels or {}) for e in r.spec.endpoints or ())
        elif r.kind == "Deployment":
            tmpl = r.spec.template
            if tmpl is not None and tmpl.metadata is not None:
                labels.append(dict(tmpl.metadata.labels or {}))
    return labels


def _match_key(m: Any) -> str | None:
    """A comparable key for a match block that only matches on uri, else None."""
    if m.uri is None:
        return None
    other = (
        m.scheme,
        m.method,
        m.authority,
        m.headers,
        m.port,
        m.source_labels,
        m.query_params,
        m.without_headers,
        m.source_namespace,
        m.gateways,
    )
    if any(other):
        return None
    for kind in ("exact", "prefix", "regex"):
        v = getattr(m.uri, kind)
        if v is not None:
            return f"{kind} {v}"
    return None


def check(resources: Sequence[Any]) -> list[Message]:
    """Every cross-reference problem in ``resources``."""
    msgs: list[Message] = []
    hosts = _service_hosts(resources)
    subsets = _subsets(resources)
    gateways = {(r.namespace, r.name) for r in resources if r.kind == "Gateway"}
    mesh_hosts: dict[str, list[Any]] = defaultdict(list)
    for r in resources:
        if r.kind != "VirtualService":
            continue
        label = resource_label(r)
        spec = r.spec
        for gw in spec.gateways or ():
            if gw == "mesh":
                continue
            ns, _, name = gw.rpartition("/")
            if (ns or r.namespace, name) not in gateways:
                msgs.append(
                    Message(
                        "Error",
                        "IST0101",
                        "ReferencedResourceNotFound",
                        label,
                        f'Referenced gateway not found: "{gw}"',
                    )
                )
        if not spec.gateways or "mesh" in spec.gateways:
            for h in spec.hosts:
                mesh_hosts[to_fqdn(h, r.namespace)].append(r)
        for i, route in enumerate(spec.http or ()):
            if not route.match and i < len(spec.http) - 1:
                msgs.append(
                    Message(
                        "Error",
                        "IST0130",
                        "VirtualServiceUnreachableRule",
                        label,
                        f"VirtualService rule #{i + 1} not used (only the last "
                        "rule can have no matches).",
                    )
                )
            weights = [d.weight for d in route.route or ()]
            if len(weights) > 1 and all(not w for w in weights):
                msgs.append(
                    Message(
                        "Error",
                        "INM0001",
                        "AllWeightsZero",
                        label,
                        f"VirtualService rule #{i} routes nothing: every "
                        "destination weight is zero.",
                    )
                )
            for d in route.route or ():
                dest = d.destination
                host = to_fqdn(dest.host, r.namespace)
                if not _known(host, hosts):
                    msgs.append(
                        Message(
                            "Error",
                            "IST0101",
                            "ReferencedResourceNotFound",
                            label,
                            f'Referenced host not found: "{dest.host}"',
                        )
                    )
                elif dest.subset and dest.subset not in subsets.get(host, set()):
                    msgs.append(
                        Message(
                            "Error",
                            "IST0101",
                            "ReferencedResourceNotFound",
                            label,
                            "Referenced host+subset in destinationrule not "
                            f'found: "{dest.host}+{dest.subset}"',
                        )
                    )
        seen: dict[str, tuple[int, int]] = {}
        for i, route in enumerate(spec.http or ()):
            for j, m in enumerate(route.match or ()):
                key = _match_key(m)
                if key is None:
                    continue
                if key in seen:
                    pi, pj = seen[key]
                    msgs.append(
                        Message(
                            "Warning",
                            "IST0131",
                            "VirtualServiceIneffectiveMatch",
                            label,
                            f"VirtualService rule #{i} match #{j} of {key} "
                            f"is not used (duplicate/overlapping match in rule "
                            f"#{pi} of {key} on #{pj}).",
                        )
                    )
                else:
                    seen[key] = (i, j)
    for host, vss in mesh_hosts.items():
        if len(vss) > 1:
            names = ",".join(f"{v.namespace}/{v.name}" for v in vss)
            for v in vss:
                msgs.append(
                    Message(
                        "Error",
                        "IST0109",
                        "ConflictingMeshGatewayVirtualServiceHosts",
                        resource_label(v),
                        f"The VirtualServices {names} associated "
                        f"with mesh define the same host {host} which can lead to "
                        "undefined behavior. This can be fixed by merging the "
                        "conflicting VirtualServices into a single resource.",
                    )
                )
    workloads = _workload_labels(resources)
    if workloads:
        for r in resources:
            if r.kind != "DestinationRule":
                continue
            for s in r.spec.subsets or ():
                want = dict(s.labels or {})
                if not any(all(w.get(k) == v for k, v in want.items()) for w in workloads):
                    msgs.append(
                        Message(
                            "Warning",
                            "IST0173",
                            "DestinationRuleSubsetNotSelectPods",
                            resource_label(r),
                            f"The Subset {s.name} defined in the "
                            "DestinationRule does not select any pods.",
                        )
                    )
    return msgs
