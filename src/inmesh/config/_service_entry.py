"""ServiceEntry and WorkloadEntry (networking.istio.io): services and endpoints from config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field, field_validator, model_validator
from typing_extensions import Self

from inmesh.config._base import IstioModel, IstioResource, Str, UInt32, Violations
from inmesh.config._common import NetworkingVersion, check_selector_labels
from inmesh.config._names import (
    check_dns1123_label,
    check_export_to,
    check_fqdn,
    check_ip_or_subnet,
    check_port,
    check_protocol,
    check_wildcard_domain,
    is_ip,
)

__all__ = [
    "ServiceEntry",
    "ServiceEntrySpec",
    "ServiceEntryWorkloadSelector",
    "ServicePort",
    "WorkloadEntry",
    "WorkloadEntrySpec",
]

UNIX_PREFIX = "unix://"
_HTTP_OR_TLS = frozenset({"HTTP", "HTTP2", "GRPC", "GRPC-WEB", "HTTP_PROXY", "HTTPS", "TLS"})


class ServicePort(IstioModel):
    """A port of a ServiceEntry: ``number``, ``protocol`` (HTTP, HTTPS, TCP, ...) and ``name``."""

    number: UInt32
    protocol: Str | None = None
    name: Str
    target_port: UInt32 | None = None


class WorkloadEntrySpec(IstioModel):
    """One workload (a VM, or a ServiceEntry endpoint): address, named ports, labels.

    ``ports`` maps a service port *name* to the port number on this workload.
    """

    address: Str | None = None
    ports: Mapping[str, UInt32] = Field(default_factory=dict)
    labels: Mapping[str, Str] = Field(default_factory=dict)
    network: Str | None = None
    locality: Str | None = None
    weight: UInt32 | None = None
    service_account: Str | None = None

    def problems(self, *, allow_fqdn: bool, service_ports: set[str] | None) -> Violations:
        """validation.go validateWorkloadEntry, relative to this entry."""
        problems = Violations()
        address = self.address or ""
        if not address and not self.network:
            problems.add("address is required", "address")
        if address.startswith(UNIX_PREFIX):
            path = address[len(UNIX_PREFIX) :]
            if not (path.startswith("@") or (path.startswith("/") and not path.endswith("/"))):
                problems.add(f"{path!r} is not an absolute path to a file", "address")
            if self.ports:
                problems.add(f"unix endpoint {address} must not include ports", "ports")
        elif address and not is_ip(address):
            if not allow_fqdn:
                problems.add(f"endpoint address {address!r} is not a valid IP address", "address")
            elif check_fqdn(address):
                problems.add(
                    f"endpoint address {address!r} is not a valid FQDN or an IP address", "address"
                )
        for name, number in self.ports.items():
            if service_ports is not None and name not in service_ports:
                problems.add(
                    f"endpoint port {name!r} is not defined by the service entry", "ports", name
                )
            problems.add(check_dns1123_label(name, "port name"), "ports", name)
            problems.add(check_port(number), "ports", name)
        problems.labels(self.labels, "labels")
        return problems


class ServiceEntryWorkloadSelector(IstioModel):
    """Selects WorkloadEntries (and pods) by ``labels`` (networking's WorkloadSelector)."""

    labels: Mapping[str, Str] = Field(default_factory=dict)


class ServiceEntrySpec(IstioModel):
    """A service Istio's registry does not know by itself (``networking.v1alpha3.ServiceEntry``)."""

    hosts: tuple[Str, ...]
    addresses: tuple[Str, ...] = ()
    ports: tuple[ServicePort, ...] = ()
    location: Literal["MESH_EXTERNAL", "MESH_INTERNAL"] | None = None
    resolution: Literal["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"] | None = None
    endpoints: tuple[WorkloadEntrySpec, ...] = ()
    workload_selector: ServiceEntryWorkloadSelector | None = None
    export_to: tuple[Str, ...] = ()
    subject_alt_names: tuple[Str, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go ValidateServiceEntry.
        problems = Violations()
        resolution = self.resolution or "NONE"
        if self.workload_selector is not None:
            check_selector_labels(
                self.workload_selector.labels, problems, "workloadSelector", "labels"
            )
            if self.endpoints:
                problems.add(
                    "only one of workloadSelector or endpoints can be set", "workloadSelector"
                )
        if any("/" in a for a in self.addresses) and resolution not in ("NONE", "STATIC"):
            problems.add(
                "CIDR addresses are allowed only for NONE/STATIC resolution types", "addresses"
            )
        self._check_resolution(resolution, problems)
        if resolution != "NONE" and len(self.hosts) > 1:
            # plain TCP cannot tell several hosts apart on one port
            for i, port in enumerate(self.ports):
                if (port.protocol or "TCP").upper() not in _HTTP_OR_TLS:
                    problems.add(
                        "multiple hosts provided with non-HTTP, non-TLS ports",
                        "ports",
                        i,
                        "protocol",
                    )
                    break
        problems.raise_if_any()
        return self

    @field_validator("hosts")
    @classmethod
    def _check_hosts(cls, hosts: tuple[str, ...]) -> tuple[str, ...]:
        problems = Violations()
        if not hosts:
            problems.add("service entry must have at least one host")
        for i, host in enumerate(hosts):
            problems.add("invalid host *" if host == "*" else check_wildcard_domain(host), i)
        problems.raise_if_any()
        return hosts

    @field_validator("addresses")
    @classmethod
    def _check_addresses(cls, addresses: tuple[str, ...]) -> tuple[str, ...]:
        problems = Violations()
        for i, address in enumerate(addresses):
            problems.add(check_ip_or_subnet(address), i)
        problems.raise_if_any()
        return addresses

    @field_validator("export_to")
    @classmethod
    def _check_export_to(cls, export_to: tuple[str, ...]) -> tuple[str, ...]:
        problems = Violations()
        for i, message in check_export_to(export_to, allow_none=True):
            problems.add(message, i)
        problems.raise_if_any()
        return export_to

    @field_validator("ports")
    @classmethod
    def _check_ports(cls, ports: tuple[ServicePort, ...]) -> tuple[ServicePort, ...]:
        # A field validator, so it runs even when another field of the spec is invalid.
        problems = Violations()
        names: set[str] = set()
        numbers: set[int] = set()
        for i, port in enumerate(ports):
            if port.name in names:
                problems.add(f"service entry port name {port.name!r} already defined", i, "name")
            if port.number in numbers:
                problems.add(f"service entry port {port.number} already defined", i, "number")
            names.add(port.name)
            numbers.add(port.number)
            problems.add(check_dns1123_label(port.name, "port name"), i, "name")
            problems.add(check_protocol(port.protocol or ""), i, "protocol")
            problems.add(check_port(port.number), i, "number")
            if port.target_port:
                problems.add(check_port(port.target_port, "targetPort"), i, "targetPort")
        problems.raise_if_any()
        return ports

    def _check_resolution(self, resolution: str, problems: Violations) -> None:
        port_names = {p.name for p in self.ports}
        if resolution == "NONE" and self.endpoints:
            problems.add("no endpoints should be provided for resolution type NONE", "endpoints")
        if resolution == "STATIC":
            if not self.endpoints and self.workload_selector is None:
                problems.add(
                    "endpoints or a workloadSelector must be provided for resolution type STATIC",
                    "endpoints",
                )
            for i, endpoint in enumerate(self.endpoints):
                found = endpoint.problems(allow_fqdn=False, service_ports=port_names)
                for loc, message in found.items:
                    problems.add(message, "endpoints", i, *loc)
        if resolution in ("DNS", "DNS_ROUND_ROBIN"):
            if not self.endpoints:
                for i, host in enumerate(self.hosts):
                    if check_fqdn(host):
                        problems.add(
                            f"hosts must be FQDN if no endpoints are provided for "
                            f"resolution mode {resolution}",
                            "hosts",
                            i,
                        )
            if resolution == "DNS_ROUND_ROBIN" and len(self.endpoints) > 1:
                problems.add(
                    f"there must only be 0 or 1 endpoint for resolution mode {resolution}",
                    "endpoints",
                )
            for i, endpoint in enumerate(self.endpoints):
                found = endpoint.problems(allow_fqdn=True, service_ports=port_names)
                for loc, message in found.items:
                    problems.add(message, "endpoints", i, *loc)


class ServiceEntry(IstioResource):
    """``networking.istio.io`` ServiceEntry: adds a service (often external) to the registry."""

    api_version: NetworkingVersion = Field(default="networking.istio.io/v1", alias="apiVersion")
    kind: Literal["ServiceEntry"] = "ServiceEntry"
    spec: ServiceEntrySpec


class WorkloadEntry(IstioResource):
    """``networking.istio.io`` WorkloadEntry: a non-Kubernetes workload, selected by labels."""

    api_version: NetworkingVersion = Field(default="networking.istio.io/v1", alias="apiVersion")
    kind: Literal["WorkloadEntry"] = "WorkloadEntry"
    spec: WorkloadEntrySpec

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go ValidateWorkloadEntry (addresses may be FQDNs without a ServiceEntry).
        found = self.spec.problems(allow_fqdn=True, service_ports=None)
        found.items = [(("spec", *loc), message) for loc, message in found.items]
        found.raise_if_any()
        return self
