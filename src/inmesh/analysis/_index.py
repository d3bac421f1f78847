"""What the analyzers look things up in, each built once per analysis so that every check
is a lookup, not a scan (the analysis is linear in the number of resources):

- :class:`Services`: services by scoped host, as Istio's analyzer ``util`` package does
  (``InitServiceEntryHostMap``, ``GetDestinationHost``, exportTo);
- :class:`Workloads`: workload labels by ``key=value``, for "does any workload match this
  selector" (a subset's labels);
- :class:`HostIndex`: values by host name, for "which hosts does this one match" with
  wildcards either way (``host.Name.Matches``).

A service (a ServiceEntry, or a Kubernetes Service converted to one) is visible in a scope:
``*`` (every namespace), or one namespace. ``exportTo: ["."]`` (and the Service annotation
``networking.istio.io/exportTo``) scopes it to its own namespace.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .._namespaces import selects
from ..routing._hosts import host_matches, to_fqdn

T = TypeVar("T")

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
    #: The wildcard entries, sorted (built on first use: lookups fall back to them).
    _wildcards: list[tuple[tuple[str, str], ServiceInfo]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @classmethod
    def of(cls, resources: Sequence[Any]) -> Services:
        out = cls()
        for r in resources:
            for key, info in service_entries(r):
                out.by_scope[key] = info
        return out

    def _get(self, key: tuple[str, str]) -> ServiceInfo | None:
        return self.by_scope.get(key)

    def _wildcard_entries(self) -> list[tuple[tuple[str, str], ServiceInfo]]:
        """The wildcard entries, sorted by key."""
        if self._wildcards is None:
            self._wildcards = sorted(
                ((key, info) for key, info in self.by_scope.items() if key[1].startswith("*")),
                key=lambda kv: kv[0],
            )
        return self._wildcards

    def lookup(self, namespace: str, export_to: Sequence[str], host: str) -> ServiceInfo | None:
        """util.GetDestinationHost: the service ``host`` names, seen from a VirtualService in
        ``namespace`` exported to ``export_to``."""
        name = fqdn(host, namespace)
        found = self._get((ALL, name))
        if found is not None:
            return found
        scopes = (
            [namespace] if not export_to else [namespace if e == LOCAL else e for e in export_to]
        )
        for scope in scopes:
            found = self._get((scope, name))
            if found is not None:
                return found
        bare = host.removeprefix("*")
        for (scope, se_host), info in self._wildcard_entries():
            if scope not in (ALL, namespace):
                continue
            if bare.endswith(se_host[1:]):
                return info
        return None


def service_entries(r: Any) -> list[tuple[tuple[str, str], ServiceInfo]]:
    """What one resource puts in :attr:`Services.by_scope` (in order: a later entry for
    the same key replaces an earlier one)."""
    out: list[tuple[tuple[str, str], ServiceInfo]] = []
    if r.kind == "ServiceEntry":
        spec = r.spec
        ports = tuple((p.number, p.name or "", p.protocol or "") for p in spec.ports or ())
        info = ServiceInfo(r, tuple(spec.hosts), ports)
        export_to = list(spec.export_to or ())
        for h in spec.hosts:
            host = fqdn(h, r.namespace)
            if not export_to or ALL in export_to:
                out.append(((ALL, host), info))
                continue
            for e in export_to:
                out.append(((r.namespace if e == LOCAL else e, host), info))
    elif r.kind == "Service":
        ports = tuple((p.port, p.name or "", p.protocol or "TCP") for p in r.spec.ports)
        host = fqdn(r.name, r.namespace)
        info = ServiceInfo(r, (host,), ports)
        for scope in _annotation_scopes(r):
            out.append(((scope, host), info))
    return out


def _annotation_scopes(service: Any) -> list[str]:
    """getVisibleNamespacesFromExportToAnno: comma-separated, ``.`` for its namespace."""
    raw = service.metadata.annotations.get(EXPORT_TO_ANNOTATION, "")
    if not raw:
        return [ALL]
    return [service.namespace if s.strip() == LOCAL else s.strip() for s in raw.split(",")]


class Workloads:
    """The labels of every workload described, indexed by ``key=value`` pair; workloads
    can be added and removed by id (the registry keeps one index across applies)."""

    def __init__(self, labels: Iterable[Mapping[str, str]] = ()) -> None:
        self._labels: dict[Hashable, dict[str, str]] = {}
        self._by_pair: dict[tuple[str, str], dict[Hashable, None]] = {}
        for i, w in enumerate(labels):
            self.add(i, w)

    def add(self, wid: Hashable, labels: Mapping[str, str]) -> None:
        """Index workload ``wid`` (not yet indexed) with ``labels``."""
        w = self._labels[wid] = dict(labels)
        for pair in w.items():
            self._by_pair.setdefault(pair, {})[wid] = None

    def remove(self, wid: Hashable) -> None:
        for pair in self._labels.pop(wid).items():
            holders = self._by_pair[pair]
            del holders[wid]
            if not holders:
                del self._by_pair[pair]

    def __bool__(self) -> bool:
        return bool(self._labels)

    def any_selected(self, selector: Mapping[str, str]) -> bool:
        """Whether ``selector`` selects any workload (``_namespaces.selects``): only the
        workloads holding its rarest ``key=value`` pair are compared."""
        if not selector:
            return bool(self._labels)
        candidates: dict[Hashable, None] | None = None
        for pair in selector.items():
            holders = self._by_pair.get(pair)
            if holders is None:
                return False
            if candidates is None or len(holders) < len(candidates):
                candidates = holders
        return any(selects(selector, self._labels[i]) for i in candidates or ())


class HostIndex(Generic[T]):
    """Values by host name, found by :func:`wildcard_matches` in either direction: a name
    matches itself, every ``*suffix`` pattern it ends with, and (when it is a wildcard
    itself) every name it covers."""

    def __init__(self) -> None:
        self._by_host: dict[str, list[T]] = {}

    def add(self, host: str, value: T) -> None:
        self._by_host.setdefault(host, []).append(value)

    def remove(self, host: str, value: T) -> None:
        """Remove one ``value`` added for ``host``."""
        values = self._by_host[host]
        values.remove(value)
        if not values:
            del self._by_host[host]

    def matching(self, host: str) -> list[str]:
        """The indexed hosts ``host`` matches (``wildcard_matches``), sorted."""
        found = {h for h in (host, "*") if h in self._by_host}
        # every "*<suffix>" pattern covering host: one lookup per suffix
        found.update(p for i in range(len(host)) if (p := "*" + host[i:]) in self._by_host)
        if host.startswith("*"):  # a wildcard covers names: scan (wildcard lookups are rare)
            found.update(h for h in self._by_host if host_matches(host, h))
        return sorted(found)

    def values(self, host: str) -> list[T]:
        return self._by_host.get(host, [])
