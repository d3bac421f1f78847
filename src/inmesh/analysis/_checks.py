"""Cross-reference checks over a set of resources, with Istio's analyzer codes.

IST0101 ReferencedResourceNotFound (destination host, subset, gateway), IST0109
ConflictingMeshGatewayVirtualServiceHosts, IST0130 VirtualServiceUnreachableRule,
IST0131 VirtualServiceIneffectiveMatch, IST0173 DestinationRuleSubsetNotSelectPods, and
inmesh's own INM0001 AllWeightsZero (a route whose weights are all zero) and INM0002
NotSupportedYet (what the runtime would refuse: :func:`inmesh.config.unsupported_problems`,
the same check and wording as ``Mesh``).

As in ``istioctl analyze``, the resources are a cluster's worth of configuration: a later
resource with the same kind, namespace and name replaces an earlier one (Istio's file
source applies documents as ``kubectl apply`` would).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from .._errors import ConfigProblem
from .._namespaces import selects
from ..config import unsupported_problems
from ..routing._hosts import host_matches, to_fqdn
from ._message import Level, Message, resource_label


def problem_message(problem: ConfigProblem, name: str, level: Level = "Error") -> Message:
    """A located :class:`ConfigProblem` as an analyzer message."""
    file = problem.file
    if file is not None and problem.document is not None:
        file = f"{file} document {problem.document}"
    details = f"{problem.field}: {problem.message}" if problem.field else problem.message
    if problem.code == "IST0106":
        details = f"Schema validation error: {details}"  # messages.yaml's template
    return Message(level, problem.code, name, problem.resource or "", details, file)


def _unsupported(resources: Sequence[Any]) -> list[Message]:
    """INM0002: what the runtime cannot use yet, as it would say it."""
    return [
        problem_message(p, "NotSupportedYet") for r in resources for p in unsupported_problems(r)
    ]


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
            labels.append(dict(r.pod_labels))
    return labels


def _route_name(route: Any, i: int) -> str:
    return f'"{route.name}"' if route.name else f"#{i}"


def _match_name(m: Any, j: int) -> str:
    return f'"{m.name}"' if m.name else f"#{j}"


def _unreachable_rules(http: Sequence[Any], label: str) -> list[Message]:
    """Istio's ``analyzeUnreachableHTTPRules``: a rule after a rule without matches, a rule
    whose every match an earlier rule already has (IST0130, Warning), and a match block
    repeating an earlier one or covered by an earlier uri prefix (IST0131, Info)."""
    msgs: list[Message] = []

    def unreachable(name: str, reason: str) -> None:
        msgs.append(
            Message(
                "Warning",
                "IST0130",
                "VirtualServiceUnreachableRule",
                label,
                f"VirtualService rule {name} not used ({reason}).",
            )
        )

    def ineffective(name: str, match: str, dup: str) -> None:
        msgs.append(
            Message(
                "Info",
                "IST0131",
                "VirtualServiceIneffectiveMatch",
                label,
                f"VirtualService rule {name} match {match} is not used "
                f"(duplicate/overlapping match in rule {dup}).",
            )
        )

    seen: dict[str, int] = {}
    prefixes: list[tuple[str, str, str]] = []  # (prefix, match name, rule name)
    catch_all = False
    for i, route in enumerate(http):
        name = _route_name(route, i)
        if not route.match:
            if catch_all:
                unreachable(name, "only the last rule can have no matches")
            catch_all = True
            continue
        if catch_all:
            unreachable(name, "route without matches defined before")
            continue
        duplicates = 0
        for j, m in enumerate(route.match):
            key = repr(m.model_dump(exclude={"name"}))
            if key in seen:
                ineffective(name, _match_name(m, j), _route_name(http[seen[key]], seen[key]))
                duplicates += 1
                continue
            seen[key] = i
            prefix = _prefix_only(m)
            if prefix is None:
                continue
            for earlier, earlier_match, earlier_rule in prefixes:
                if prefix != earlier and prefix.startswith(earlier):
                    ineffective(
                        name,
                        f"{_match_name(m, j)} of prefix {prefix}",
                        f"{earlier_match} of prefix {earlier} on {earlier_rule}",
                    )
                    break
            prefixes.append((prefix, _match_name(m, j), name))
        if duplicates == len(route.match):
            unreachable(name, "all matches used by prior rules")
    return msgs


def _prefix_only(m: Any) -> str | None:
    """The uri prefix of a block that matches on nothing else (one a longer prefix after
    it can never get past), else None. Istio's overlap check, for this simple case."""
    if m.uri is None or m.uri.prefix is None or m.ignore_uri_case:
        return None
    others = (
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
    return None if any(others) else str(m.uri.prefix)


def _selectors(resources: Sequence[Any]) -> dict[str, dict[str, str]]:
    """The workload selector of each service host (ServiceEntry workloadSelector,
    Kubernetes Service selector; empty for a ServiceEntry with inline endpoints)."""
    out: dict[str, dict[str, str]] = {}
    for r in resources:
        if r.kind == "ServiceEntry":
            sel = r.spec.workload_selector
            labels = dict(sel.labels or {}) if sel is not None else {}
            for h in r.spec.hosts:
                out.setdefault(h.lower(), labels)
        elif r.kind == "Service":
            out.setdefault(to_fqdn(r.name, r.namespace), dict(r.spec.selector or {}))
    return out


def check(resources: Sequence[Any]) -> list[Message]:
    """Every cross-reference problem in ``resources``."""
    resources = list({(r.kind, r.namespace, r.name): r for r in resources}.values())
    msgs: list[Message] = _unsupported(resources)
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
        msgs.extend(_unreachable_rules(spec.http or (), label))
        for i, route in enumerate(spec.http or ()):
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
                        f"with mesh gateway define the same host {host} which can lead to "
                        "undefined behavior. This can be fixed by merging the "
                        "conflicting VirtualServices into a single resource.",
                    )
                )
    workloads = _workload_labels(resources)
    selectors = _selectors(resources)
    if workloads:
        for r in resources:
            if r.kind != "DestinationRule":
                continue
            # Istio's PodNotSelectedAnalyzer: a subset selects the workloads matching its
            # service's selector merged with the subset's labels.
            service = next(
                (
                    sel
                    for h, sel in selectors.items()
                    if host_matches(h, to_fqdn(r.spec.host, r.namespace))
                ),
                None,
            )
            if service is None:
                continue  # a rule for a host no service defines: nothing to select from
            for s in r.spec.subsets or ():
                want = {**service, **dict(s.labels or {})}
                if not any(selects(want, w) for w in workloads):
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
