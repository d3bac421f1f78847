"""Service and ServiceEntry analyzers (Istio's ``analyzers/service`` and
``analyzers/serviceentry``):

- ``PortNameAnalyzer``: IST0118 a Service port whose name (or appProtocol) names no
  protocol Istio knows (``kube.ConvertProtocol``); IST0150 instead for an ExternalName
  Service (also for a port named ``tcp``). Control-plane Services (label ``istio``, or
  ``release: istio``) are skipped;
- ``ProtocolAddressesAnalyzer``: IST0134 a ServiceEntry without addresses with a TCP (or
  unset) protocol port;
- ``ConflictingServiceEntryProtocolAnalyzer``: IST0177 ServiceEntries giving one host and
  port different protocols in one scope.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from ._index import ALL, vs_scopes
from ._message import Message, resource_label

# protocol.Parse, and kube.ConvertProtocol's well-known ports (SMTP, DNS, MySQL, MongoDB).
_PROTOCOLS = frozenset(
    {"tcp", "udp", "grpc", "grpc-web", "http", "http_proxy", "http2", "https", "tls"}
    | {"mongo", "redis", "mysql", "doublehbone"}
)
_WELL_KNOWN_PORTS = frozenset({25, 53, 3306, 27017})
_K8S_APP_PROTOCOLS = frozenset({"kubernetes.io/h2c", "kubernetes.io/ws", "kubernetes.io/wss"})


def _supported(port: Any) -> bool:
    """Whether kube.ConvertProtocol finds a protocol for the port."""
    if port.protocol == "UDP":
        return True
    name = port.app_protocol if port.app_protocol is not None else (port.name or "")
    if port.app_protocol is not None and name in _K8S_APP_PROTOCOLS:
        return True
    if name[:8].lower() == "grpc-web":
        return True
    if name.partition("-")[0].lower() in _PROTOCOLS:
        return True
    return port.port in _WELL_KNOWN_PORTS


def port_names(r: Any) -> list[Message]:
    """IST0118 / IST0150 for one Service."""
    labels = r.metadata.labels or {}
    if "istio" in labels or labels.get("release") == "istio":
        return []
    msgs: list[Message] = []
    external = r.spec.type == "ExternalName"
    for p in r.spec.ports:
        if _supported(p) and not (p.name == "tcp" and external):
            continue
        if external:
            msgs.append(
                Message(
                    "Warning",
                    "IST0150",
                    "ExternalNameServiceTypeInvalidPortName",
                    resource_label(r),
                    "Port name for ExternalName service is invalid. Proxy may prevent tcp "
                    "named ports and unmatched traffic for ports serving TCP protocol from "
                    "being forwarded correctly",
                )
            )
            continue
        target = "" if p.target_port is None else str(p.target_port)
        msgs.append(
            Message(
                "Info",
                "IST0118",
                "PortNameIsNotUnderNamingConvention",
                resource_label(r),
                f"Port name {p.name or ''} (port: {p.port}, targetPort: {target}) doesn't "
                "follow the naming convention of Istio port.",
            )
        )
    return msgs


def addresses_required(r: Any) -> list[Message]:
    """IST0134 for one ServiceEntry (no mesh-config DNS auto-allocation is modelled)."""
    spec = r.spec
    status = getattr(r, "status", None) or {}
    allocated = isinstance(status, dict) and bool(status.get("addresses"))
    if spec.addresses or allocated:
        return []
    if any(not p.protocol or p.protocol.upper() == "TCP" for p in spec.ports or ()):
        return [
            Message(
                "Warning",
                "IST0134",
                "ServiceEntryAddressesRequired",
                resource_label(r),
                "ServiceEntry addresses are required for this protocol.",
            )
        ]
    return []


def conflicting_protocols(resources: Sequence[Any]) -> list[Message]:
    """IST0177, once per ServiceEntry."""
    index: dict[tuple[str, str, int], list[tuple[str, Any]]] = defaultdict(list)
    for r in resources:
        if r.kind != "ServiceEntry":
            continue
        for scope in vs_scopes(r.spec.export_to, r.namespace):
            for h in r.spec.hosts:
                for p in r.spec.ports or ():
                    index[(scope, h, p.number)].append(((p.protocol or "").upper(), r))
    msgs: list[Message] = []
    reported: set[tuple[str, str]] = set()
    for (scope, host, port), entries in sorted(index.items(), key=lambda kv: kv[0]):
        entries = list(entries)
        if scope != ALL:
            entries.extend(index.get((ALL, host, port), ()))
        protocols = sorted({proto for proto, _ in entries})
        if len(protocols) < 2:
            continue
        names = ", ".join(sorted({f"{r.namespace}/{r.name}" for _, r in entries}))
        for _, r in entries:
            if (r.namespace, r.name) in reported:
                continue
            reported.add((r.namespace, r.name))
            msgs.append(
                Message(
                    "Warning",
                    "IST0177",
                    "ConflictingServiceEntryProtocol",
                    resource_label(r),
                    f'Multiple ServiceEntries ({names}) define the same host "{host}" and '
                    f"port {port} with conflicting protocols ({', '.join(protocols)}).",
                )
            )
    return msgs


def check_services(resources: Sequence[Any]) -> list[Message]:
    """Every Service and ServiceEntry message."""
    msgs: list[Message] = []
    for r in resources:
        if r.kind == "Service":
            msgs.extend(port_names(r))
        elif r.kind == "ServiceEntry":
            msgs.extend(addresses_required(r))
    msgs.extend(conflicting_protocols(resources))
    return msgs
