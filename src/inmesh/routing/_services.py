"""The service registry a snapshot is compiled from: ServiceEntry, WorkloadEntry and
Kubernetes Service resources, turned into services with ports and endpoints."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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


def _instance(spec: Any) -> Instance:
    return Instance(
        address=spec.address or "",
        ports=dict(spec.ports or {}),
        labels=dict(spec.labels or {}),
        locality=spec.locality or "",
        weight=spec.weight or 1,
        service_account=spec.service_account,
        network=spec.network or "",
    )


def build_services(
    service_entries: Iterable[Any],
    workload_entries: Iterable[Any],
    kube_services: Iterable[Any],
    client_namespace: str,
) -> dict[str, Service]:
    """Compile the services visible to a client in ``client_namespace``, by canonical host.

    A ServiceEntry's ``workloadSelector`` and a Kubernetes Service's ``selector`` pick the
    WorkloadEntries of their own namespace whose labels include the selector (Istio's rule).
    Several ServiceEntries for one host merge their ports and endpoints.
    """
    workloads: list[tuple[str, Instance]] = [
        (we.namespace, _instance(we.spec)) for we in workload_entries
    ]
    services: dict[str, Service] = {}

    def selected(namespace: str, selector: Mapping[str, str]) -> list[Instance]:
        return [
            inst for ns, inst in workloads if ns == namespace and selects(selector, inst.labels)
        ]

    for se in service_entries:
        spec = se.spec
        if not visible(spec.export_to, se.namespace, client_namespace):
            continue
        ports = [
            Port(p.number, p.name or "", (p.protocol or "").upper(), p.target_port)
            for p in spec.ports or ()
        ]
        if spec.workload_selector is not None:
            instances = selected(se.namespace, spec.workload_selector.labels or {})
        else:
            instances = [_instance(e) for e in spec.endpoints or ()]
        dns_self = (
            not instances
            and spec.workload_selector is None
            and (spec.resolution in ("DNS", "DNS_ROUND_ROBIN"))
        )
        for host in spec.hosts:
            h = host.lower()
            if dns_self:
                # DNS resolution without endpoints: the host name itself is resolved.
                instances = [Instance(address=h, ports={}, labels={})]
            svc = services.get(h)
            if svc is None:
                services[h] = Service(
                    host=h,
                    namespace=se.namespace,
                    ports=list(ports),
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
    for ks in kube_services:
        fqdn = to_fqdn(ks.name, ks.namespace)
        if fqdn in services:
            continue
        ports = [
            Port(p.port, p.name or "", _kube_protocol(p), p.target_port)
            for p in ks.spec.ports or ()
        ]
        selector = ks.spec.selector or {}
        services[fqdn] = Service(
            host=fqdn,
            namespace=ks.namespace,
            ports=ports,
            resolution="STATIC",
            location="MESH_INTERNAL",
            instances=selected(ks.namespace, selector) if selector else [],
        )
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
