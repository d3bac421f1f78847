"""What the analyzers look things up in: services by scoped host, as Istio's analyzer
``util`` package does (``InitServiceEntryHostMap``, ``GetDestinationHost``, exportTo).

A service (a ServiceEntry, or a Kubernetes Service converted to one) is visible in a scope:
``*`` (every namespace), or one namespace. ``exportTo: ["."]`` (and the Service annotation
``networking.istio.io/exportTo``) scopes it to its own namespace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..routing._hosts import host_matches, to_fqdn

#: Istio's util.ExportToAllNamespaces / ExportToNamespaceLocal.
ALL = "*"
LOCAL = "."
EXPORT_TO_ANNOTATION = "networking.istio.io/exportTo"


def fqdn(host: str, namespace: str) -> str:
    """util.ConvertHostToFQDN: a short name is expanded; a wildcard or dotted name stays."""
    if host.startswith("*") or "." in host:
        return host
    return to_fqdn(host, namespace)


def wildcard_matches(a: str, b: str) -> bool:
    """host.Name.Matches: equal, or either a wildcard covering the other."""
    return host_matches(a, b) or host_matches(b, a)


def vs_scopes(export_to: Sequence[str], namespace: str) -> list[str]:
    """The scopes a VirtualService's hosts live in (util.IsExportToAllNamespaces)."""
    if not export_to or ALL in export_to:
        return [ALL]
    return sorted({namespace if e == LOCAL else e for e in export_to})


@dataclass(frozen=True)
class ServiceInfo:
    """A service as the analyzers see it: who defines it, its hosts and ports."""

    resource: Any
    hosts: tuple[str, ...]
    #: (number, name, protocol) of each port.
    ports: tuple[tuple[int, str, str], ...]


@dataclass
class Services:
    """Services by ``scope/fqdn`` (Istio's map[ScopedFqdn]*ServiceEntry)."""

    by_scope: dict[tuple[str, str], ServiceInfo] = field(default_factory=dict)

    @classmethod
    def of(cls, resources: Sequence[Any]) -> Services:
        out = cls()
        for r in resources:
            if r.kind == "ServiceEntry":
                spec = r.spec
                ports = tuple((p.number, p.name or "", p.protocol or "") for p in spec.ports or ())
                info = ServiceInfo(r, tuple(spec.hosts), ports)
                export_to = list(spec.export_to or ())
                for h in spec.hosts:
                    host = fqdn(h, r.namespace)
                    if not export_to or ALL in export_to:
                        out.by_scope[(ALL, host)] = info
                        continue
                    for e in export_to:
                        out.by_scope[(r.namespace if e == LOCAL else e, host)] = info
            elif r.kind == "Service":
                ports = tuple((p.port, p.name or "", p.protocol or "TCP") for p in r.spec.ports)
                host = fqdn(r.name, r.namespace)
                info = ServiceInfo(r, (host,), ports)
                for scope in _annotation_scopes(r):
                    out.by_scope[(scope, host)] = info
        return out

    def lookup(self, namespace: str, export_to: Sequence[str], host: str) -> ServiceInfo | None:
        """util.GetDestinationHost: the service ``host`` names, seen from a VirtualService in
        ``namespace`` exported to ``export_to``."""
        name = fqdn(host, namespace)
        found = self.by_scope.get((ALL, name))
        if found is not None:
            return found
        scopes = (
            [namespace] if not export_to else [namespace if e == LOCAL else e for e in export_to]
        )
        for scope in scopes:
            found = self.by_scope.get((scope, name))
            if found is not None:
                return found
        bare = host.removeprefix("*")
        for (scope, se_host), info in sorted(self.by_scope.items(), key=lambda kv: kv[0]):
            if not se_host.startswith("*") or scope not in (ALL, namespace):
                continue
            if bare.endswith(se_host[1:]):
                return info
        return None


def _annotation_scopes(service: Any) -> list[str]:
    """getVisibleNamespacesFromExportToAnno: comma-separated, ``.`` for its namespace."""
    raw = service.metadata.annotations.get(EXPORT_TO_ANNOTATION, "")
    if not raw:
        return [ALL]
    return [service.namespace if s.strip() == LOCAL else s.strip() for s in raw.split(",")]
