"""The service registry a snapshot is compiled from: ServiceEntry, WorkloadEntry and
Kubernetes Service resources, turned into services with ports and endpoints."""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._namespaces import selects, visible
from ..balancing import Endpoint
from ._hosts import to_fqdn


@dataclass(frozen=True, slots=True)
class Port:
    number: int
    name: str
    protocol: str
    target_port: int | str | None = None


@dataclass(frozen=True, slots=True)
class Instance:
    """A workload of a service, before ports are resolved (WorkloadEntry's shape)."""

    address: str
    ports: Mapping[str, int]
    labels: Mapping[str, str]
    locality: str = ""
    weight: int = 1
    service_account: str | None = None
    network: str = ""


@dataclass(slots=True)
class Service:
    """One mesh host: its ports and the workloads behind it."""

    host: str
    namespace: str
    ports: list[Port]
    resolution: str  # STATIC, DNS, DNS_ROUND_ROBIN, NONE
    location: str  # MESH_INTERNAL, MESH_EXTERNAL
    instances: list[Instance] = field(default_factory=list)
    export_to: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    #: ServiceEntry ``subjectAltNames``: identities its workloads may present under mTLS
    subject_alt_names: tuple[str, ...] = ()

    def port(self, number: int | None) -> Port | None:
        """The declared port ``number``; with None, the only port when there is one."""
        if number is None:
            return self.ports[0] if len(self.ports) == 1 else None
        for p in self.ports:
            if p.number == number:
                return p
        return None

    def endpoints(self, port: Port) -> tuple[Endpoint, ...]:
        """Endpoints for ``port``: an instance's port by the service port's name, else
        the port's targetPort, else its number (ServiceEntry's endpoint port rule)."""
        out: list[Endpoint] = []
        for inst in self.instances:
            number = inst.ports.get(port.name) if port.name else None
            if number is None:
                number = port.target_port if isinstance(port.target_port, int) else port.number
                if isinstance(port.target_port, str):
                    named = inst.ports.get(port.target_port)
                    if named is None:
                        continue  # a named targetPort the workload does not expose
                    number = named
            out.append(
                Endpoint(
                    address=inst.address,
                    port=number,
                    labels=inst.labels,
                    locality=inst.locality,
                    weight=inst.weight,
                    service_account=inst.service_account,
                    network=inst.network,
                )
            )
        return tuple(out)


_EMPTY: Mapping[str, Any] = types.MappingProxyType({})


def instance_of(spec: Any) -> Instance:
    """A WorkloadEntry's (or an inline endpoint's) spec as an Instance."""
    # the model's own mappings (frozen resources): no copy per workload
    return Instance(
        address=spec.address or "",
        ports=spec.ports or _EMPTY,
        labels=spec.labels or _EMPTY,
        locality=spec.locality or "",
        weight=spec.weight or 1,
        service_account=spec.service_account,
        network=spec.network or "",
    )


#: ``(namespace, selector) -> the selected instances, in order``
Selector = Callable[[str, Mapping[str, str]], list[Instance]]


def service_of(host: str, entries: Iterable[Any], selected: Selector) -> Service | None:
    """The service of ``host`` (lower case) from the ServiceEntries that name it and the
    client may see, in their order: the first gives namespace, resolution and location,
    the others add the ports it lacks and their endpoints (several ServiceEntries for one
    host merge). A ``workloadSelector`` picks the WorkloadEntries of the entry's own
    namespace whose labels include it (Istio's rule)."""
    svc: Service | None = None
    for se in entries:
        spec = se.spec
        ports = [
            Port(p.number, p.name or "", (p.protocol or "").upper(), p.target_port)
            for p in spec.ports or ()
        ]
        if spec.workload_selector is not None:
            instances = selected(se.namespace, spec.workload_selector.labels or {})
        else:
            instances = [instance_of(e) for e in spec.endpoints or ()]
        if (
            not instances
            and spec.workload_selector is None
            and spec.resolution in ("DNS", "DNS_ROUND_ROBIN")
        ):
            # DNS resolution without endpoints: the host name itself is resolved.
            instances = [Instance(address=host, ports={}, labels={})]
        if svc is None:
            svc = Service(
                host=host,
                namespace=se.namespace,
                ports=ports,
                resolution=spec.resolution or "NONE",
                location=spec.location or "MESH_EXTERNAL",
                instances=list(instances),
                export_to=tuple(spec.export_to or ()),
                addresses=tuple(spec.addresses or ()),
                subject_alt_names=tuple(spec.subject_alt_names or ()),
            )
        else:
            svc.ports.extend(p for p in ports if svc.port(p.number) is None)
            svc.instances.extend(instances)
    return svc


def kube_service_of(ks: Any, selected: Selector) -> Service:
    """The service of a Kubernetes Service: its FQDN, ports, and the WorkloadEntries of its
    namespace its ``selector`` picks (none without a selector)."""
    selector = ks.spec.selector or {}
    return Service(
        host=to_fqdn(ks.name, ks.namespace),
        namespace=ks.namespace,
        ports=[
            Port(p.port, p.name or "", _kube_protocol(p), p.target_port)
            for p in ks.spec.ports or ()
        ],
        resolution="STATIC",
        location="MESH_INTERNAL",
        instances=selected(ks.namespace, selector) if selector else [],
    )


class Workloads:
    """WorkloadEntries indexed by (namespace, label, value), so a selector is answered from
    its smallest bucket instead of a scan of every workload (linear compile)."""

    __slots__ = ("_by_label", "_by_namespace", "_order")

    def __init__(self, order: Callable[[Any], float] | None = None) -> None:
        #: key -> position: instances are returned in the order of their resources
        self._order = order
        self._by_namespace: dict[str, dict[Any, Instance]] = {}
        self._by_label: dict[tuple[str, str, str], dict[Any, Instance]] = {}

    def add(self, key: Any, namespace: str, inst: Instance) -> None:
        self._by_namespace.setdefault(namespace, {})[key] = inst
        for k, v in inst.labels.items():
            self._by_label.setdefault((namespace, k, v), {})[key] = inst

    def remove(self, key: Any, namespace: str, inst: Instance) -> None:
        self._by_namespace.get(namespace, {}).pop(key, None)
        for k, v in inst.labels.items():
            bucket = self._by_label.get((namespace, k, v))
            if bucket is not None:
                bucket.pop(key, None)
                if not bucket:
                    del self._by_label[(namespace, k, v)]

    def select(self, namespace: str, selector: Mapping[str, str]) -> list[Instance]:
        """The instances of ``namespace`` whose labels include ``selector``."""
        if not selector:
            bucket = self._by_namespace.get(namespace, {})
        else:
            buckets = [self._by_label.get((namespace, k, v), {}) for k, v in selector.items()]
            bucket = min(buckets, key=len)
        hits = [(key, inst) for key, inst in bucket.items() if selects(selector, inst.labels)]
        if self._order is not None and len(hits) > 1:
            hits.sort(key=lambda kv: self._order(kv[0]))  # type: ignore[misc]
        return [inst for _, inst in hits]


def build_services(
    service_entries: Iterable[Any],
    workload_entries: Iterable[Any],
    kube_services: Iterable[Any],
    client_namespace: str,
) -> dict[str, Service]:
    """Compile the services visible to a client in ``client_namespace``, by canonical host
    (what a Snapshot compiles host by host; kept whole for tests and tools).

    Kubernetes Services come after ServiceEntries; a ServiceEntry for the same FQDN wins.
    """
    workloads = Workloads()
    for i, we in enumerate(workload_entries):
        workloads.add(i, we.namespace, instance_of(we.spec))
    by_host: dict[str, list[Any]] = {}
    for se in service_entries:
        if visible(se.spec.export_to, se.namespace, client_namespace):
            for host in se.spec.hosts:
                by_host.setdefault(host.lower(), []).append(se)
    services: dict[str, Service] = {}
    for host, entries in by_host.items():
        svc = service_of(host, entries, workloads.select)
        if svc is not None:
            services[host] = svc
    for ks in kube_services:
        fqdn = to_fqdn(ks.name, ks.namespace)
        if fqdn not in services:
            services[fqdn] = kube_service_of(ks, workloads.select)
    return services


def _kube_protocol(port: Any) -> str:
    """Istio's protocol selection for a Kubernetes port: appProtocol, then the name prefix."""
    if getattr(port, "app_protocol", None):
        return str(port.app_protocol).upper()
    name = (port.name or "").lower()
    for proto in ("http2", "https", "http", "grpc", "tcp", "tls"):
        if name == proto or name.startswith(proto + "-"):
            return proto.upper()
    # Istio sniffs unnamed and unrecognised ports; an HTTP client's traffic sniffs as HTTP.
    return "HTTP"
