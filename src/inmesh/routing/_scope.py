"""What one workload can reach: Istio's ``Sidecar`` scope, and ``exportTo``.

Istio's rules (``pilot/pkg/model/sidecar.go`` and ``push_context.go``), followed here:

- **Selection** (``getSidecarScope``): in the workload's namespace, a Sidecar whose
  ``workloadSelector`` selects the workload, else the namespace's Sidecar without a
  selector, else the root namespace's (``istio-system``) Sidecar without a selector, else
  none (everything visible). Among several that qualify, the oldest (the first given) wins.
- **egress hosts** (``convertIstioListenerToWrapper``): ``namespace/dnsName`` where the
  namespace is a name, ``.`` (the workload's own namespace, also for a root-namespace
  Sidecar), ``*`` (any), or ``~`` (none: an entry that imports nothing); ``dnsName`` is a
  host or a wildcard (``*``, ``*.example.com``). No egress listener means ``*/*``.
- **A service is imported** (``selectServices``) when an entry of its own namespace, or of
  ``*``, matches its host: exact hosts by equality, wildcards by Istio's ``SubsetOf``.
- **A VirtualService is imported** (``SelectVirtualServices``) when one of its hosts
  matches an entry of its namespace or of ``*`` (both directions: ``Matches``), and the
  services its routes send to are imported with it (``collectImportedServices``).
- **egress port**: a listener with ``port`` imports only services with that port, trimmed
  to it (``serviceMatchingListenerPort``).
- ``outboundTrafficPolicy.mode`` replaces the mesh-wide mode for the selected workloads.

``exportTo`` is checked as well: a Sidecar narrows what is exported, it never widens it.
:func:`scope_for` is pure; the registry's push (which resources a watcher can see) uses
:meth:`Scope.sees`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._namespaces import ROOT_NAMESPACE, selects, visible
from ._hosts import host_matches, to_fqdn

__all__ = ["Scope", "destination_hosts", "scope_for"]

_ANY_NS = "*"


def subset_of(host: str, pattern: str) -> bool:
    """Istio's ``host.Name.SubsetOf``: every name ``host`` stands for matches ``pattern``."""
    if pattern == "*":
        return True
    if pattern.startswith("*"):
        return (
            host.endswith(pattern[1:])
            if not host.startswith("*")
            else (host[1:].endswith(pattern[1:]))
        )
    return host == pattern


def _either_matches(a: str, b: str) -> bool:
    """Istio's ``host.Name.Matches``: one of the two names matches the other."""
    return host_matches(a, b) or host_matches(b, a)


@dataclass(frozen=True, slots=True)
class _Hosts:
    """The egress hosts of one namespace (Istio's ``hostClassification``)."""

    exact: frozenset[str]
    patterns: tuple[str, ...]
    excluded: tuple[str, ...] = ()

    def excludes(self, host: str) -> bool:
        return any(subset_of(host, e) for e in self.excluded)

    def matches(self, host: str) -> bool:
        if host in self.exact:
            return True
        wild = host.startswith("*")
        return any(subset_of(host, p) for p in self.patterns if wild or p.startswith("*"))

    def vs_matches(self, host: str) -> bool:
        if host in self.exact:
            return True
        wild = host.startswith("*")
        return any(_either_matches(host, p) for p in self.patterns if wild or p.startswith("*"))


@dataclass(frozen=True, slots=True)
class _Listener:
    """One egress listener: its hosts by namespace and its port (None: every port)."""

    hosts: Mapping[str, _Hosts]
    port: int | None

    def _classes(self, namespace: str) -> list[_Hosts]:
        return [h for ns in (namespace, _ANY_NS) if (h := self.hosts.get(ns)) is not None]

    def imports_service(self, host: str, namespace: str) -> bool:
        classes = self._classes(namespace)
        if any(c.excludes(host) for c in classes):
            return False
        return any(c.matches(host) for c in classes)

    def imports_vs_host(self, host: str, namespace: str) -> bool:
        classes = self._classes(namespace)
        if any(c.excludes(host) for c in classes):
            return False
        return any(c.vs_matches(host) for c in classes)


def _listener(hosts: Sequence[str], port: int | None, config_namespace: str) -> _Listener:
    exact: dict[str, set[str]] = {}
    patterns: dict[str, list[str]] = {}
    excluded: dict[str, list[str]] = {}
    for entry in hosts:
        ns, _, name = entry.partition("/")
        name = name.lower()
        if ns.startswith("~"):
            # Istio: "~/<host>" (and "~<ns>/<host>") excludes; a bare "~" namespace is "*"
            ns = ns[1:] or _ANY_NS
            ns = config_namespace if ns == "." else ns
            excluded.setdefault(ns, []).append(name)
            exact.setdefault(ns, set())
            patterns.setdefault(ns, [])
            continue
        if ns == ".":
            ns = config_namespace
        patterns.setdefault(ns, []).append(name)
        if not name.startswith("*"):
            exact.setdefault(ns, set()).add(name)
        else:
            exact.setdefault(ns, set())
    return _Listener(
        hosts={
            ns: _Hosts(frozenset(exact.get(ns, ())), tuple(ps), tuple(excluded.get(ns, ())))
            for ns, ps in patterns.items()
        },
        port=port,
    )


@dataclass(frozen=True, slots=True)
class Scope:
    """What a workload in ``namespace`` may import: everything exported to its namespace
    (``sidecar`` None), or what the selected Sidecar's egress listeners name."""

    namespace: str
    sidecar: Any | None = None
    listeners: tuple[_Listener, ...] = ()
    #: the Sidecar's ``outboundTrafficPolicy.mode`` (None: the mesh-wide mode)
    outbound_mode: str | None = None
    _cache: dict[tuple[str, str], bool] = field(default_factory=dict, compare=False)

    @property
    def everything(self) -> bool:
        """No Sidecar applies: the workload sees everything exported to its namespace."""
        return self.sidecar is None

    def imports_service(self, host: str, namespace: str) -> bool:
        """Whether a service ``host`` of ``namespace`` is imported by an egress listener
        (``exportTo`` is the caller's check)."""
        if self.sidecar is None:
            return True
        key = (host, namespace)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = any(
                lst.imports_service(host, namespace) for lst in self.listeners
            )
        return hit

    def service_ports(self, host: str, namespace: str) -> frozenset[int] | None:
        """The ports of an imported service that listeners with a ``port`` restrict it to,
        or None when a listener without a port imports it (every port)."""
        if self.sidecar is None:
            return None
        ports: set[int] = set()
        for lst in self.listeners:
            if lst.imports_service(host, namespace):
                if lst.port is None:
                    return None
                ports.add(lst.port)
        return frozenset(ports)

    def imports_virtual_service(self, namespace: str, hosts: Iterable[str]) -> bool:
        """Whether a VirtualService of ``namespace`` with ``hosts`` (canonical) is imported."""
        if self.sidecar is None:
            return True
        return any(lst.imports_vs_host(h, namespace) for lst in self.listeners for h in hosts)

    def sees(
        self,
        kind: str,
        namespace: str,
        hosts: Iterable[str] = (),
        export_to: Sequence[str] | None = None,
    ) -> bool:
        """Whether a resource may matter to this workload (for a registry deciding what to
        send a watcher). ``hosts`` are the resource's hosts as written (ServiceEntry and
        VirtualService ``hosts``, a DestinationRule's ``host``), expanded here relative to
        ``namespace``. Conservative where one resource depends on another: a
        WorkloadEntry is seen when any listener imports from its namespace; a
        ServiceEntry that only a seen VirtualService routes to is imported by Istio too,
        so a registry must send the destinations of the VirtualServices it sends (see
        :func:`destination_hosts`); every other kind (Sidecar, security policy,
        Kubernetes objects) is always seen."""
        if kind in ("ServiceEntry", "VirtualService", "DestinationRule"):
            if not visible(export_to, namespace, self.namespace):
                return False
            if self.sidecar is None:
                return True
            fqdns = [to_fqdn(h, namespace) for h in hosts]
            if kind == "ServiceEntry":
                return any(self.imports_service(h, namespace) for h in fqdns)
            if kind == "VirtualService":
                return self.imports_virtual_service(namespace, fqdns)
            # a DestinationRule applies to the services it names: a cluster-local host
            # names its namespace; for any other, every namespace is a candidate
            return any(
                self.imports_service(h, _namespace_of(h))
                if _namespace_of(h)
                else any(lst.imports_vs_host(h, ns) for lst in self.listeners for ns in lst.hosts)
                for h in fqdns
            )
        if kind == "WorkloadEntry" and self.sidecar is not None:
            return any(namespace in lst.hosts or _ANY_NS in lst.hosts for lst in self.listeners)
        return True


def _namespace_of(host: str) -> str:
    """The namespace of ``<name>.<namespace>.svc.cluster.local`` ("" for other hosts)."""
    if host.endswith(".svc.cluster.local") and host.count(".") == 4 and not host.startswith("*"):
        return host.split(".")[1]
    return ""


def destination_hosts(virtual_service: Any) -> set[str]:
    """The canonical hosts a VirtualService's HTTP routes (and mirrors) send to: Istio
    imports their services along with the VirtualService."""
    ns = virtual_service.namespace
    out: set[str] = set()
    for route in virtual_service.spec.http or ():
        for d in route.route or ():
            out.add(to_fqdn(d.destination.host, ns))
        if route.mirror is not None:
            out.add(to_fqdn(route.mirror.host, ns))
        for m in route.mirrors or ():
            out.add(to_fqdn(m.destination.host, ns))
    return out


def _selected(sidecars: Iterable[Any], namespace: str, labels: Mapping[str, str]) -> Any | None:
    own = [s for s in sidecars if s.namespace == namespace]
    for s in own:
        sel = s.spec.workload_selector
        if sel is not None and selects(sel.labels, labels):
            return s
    for s in own:
        if s.spec.workload_selector is None:
            return s
    for s in sidecars:
        if s.namespace == ROOT_NAMESPACE and s.spec.workload_selector is None:
            return s
    return None


def _port(egress: Any) -> int | None:
    """The port a listener restricts its services to; Istio's needsPortMatch: none for a
    listener without a port number, or whose protocol is HTTP_PROXY."""
    port = egress.port
    if port is None or not port.number or (port.protocol or "").upper() == "HTTP_PROXY":
        return None
    return int(port.number)


def scope_for(sidecars: Iterable[Any], namespace: str, labels: Mapping[str, str]) -> Scope:
    """The scope of a workload in ``namespace`` with ``labels``, from the Sidecar resources
    in force (in creation order), by Istio's selection rule (module docstring)."""
    sidecar = _selected(list(sidecars), namespace, labels)
    if sidecar is None:
        return Scope(namespace)
    spec = sidecar.spec
    egress = spec.egress or ()
    listeners = tuple(
        _listener(e.hosts, e.port.number if e.port is not None else None, namespace) for e in egress
    ) or (_listener(["*/*"], None, namespace),)
    otp = spec.outbound_traffic_policy
    # Istio's enum: REGISTRY_ONLY is 0, the value of a policy that sets no mode
    mode = (otp.mode or "REGISTRY_ONLY") if otp is not None else None
    return Scope(namespace, sidecar, listeners, mode)
