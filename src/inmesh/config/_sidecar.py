"""Sidecar (networking.istio.io): what a workload imports from the mesh.

inmesh implements ``workloadSelector``, ``egress[].hosts`` and ``egress[].port`` (which
services, VirtualServices and DestinationRules a workload compiles: ``routing/_scope.py``)
and ``outboundTrafficPolicy.mode``. ``ingress``, ``inboundConnectionPool``,
``egress[].bind``, ``egress[].captureMode`` and ``outboundTrafficPolicy.egressProxy`` are
refused by name (the support table): there is no listener to bind or capture in-process.

Validation follows Istio's ``ValidateSidecar`` (``pkg/config/validation/validation.go``):
a Sidecar sets something; each egress listener has hosts of the form ``namespace/dnsName``
(namespace ``*``, ``.``, a DNS label, optionally ``~``-prefixed to exclude); one listener
without a port at most, and it comes last; listener ports are unique.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator
from typing_extensions import Self

from inmesh.config._base import IstioModel, IstioResource, Str, UInt32, Violations
from inmesh.config._common import NetworkingVersion, check_selector_labels
from inmesh.config._names import (
    check_dns1123_label,
    check_port,
    check_protocol,
    check_wildcard_domain,
)

__all__ = [
    "IstioEgressListener",
    "OutboundTrafficPolicy",
    "Sidecar",
    "SidecarPort",
    "SidecarSpec",
    "SidecarWorkloadSelector",
    "check_egress_host",
]


def check_egress_host(host: str) -> str | None:
    """Istio's ``ValidateNamespaceSlashWildcardHostname`` for a Sidecar egress host."""
    ns, slash, name = host.partition("/")
    if not slash or "/" in name:
        return f"host {host!r} must be of form namespace/dnsName"
    if not ns or not name:
        return f"host {host!r}: config namespace and dnsName in host entry cannot be empty"
    bare = ns[1:] if ns.startswith("~") else ns
    if bare not in ("", "*", ".") and check_dns1123_label(bare):
        return f"invalid namespace value {ns!r} in sidecar"
    if name != "*":
        return check_wildcard_domain(name)
    return None


class SidecarPort(IstioModel):
    """The port of an egress listener: ``number``, ``protocol``, ``name``."""

    number: UInt32 = 0
    protocol: Str | None = None
    name: Str | None = None
    target_port: UInt32 | None = None


class IstioEgressListener(IstioModel):
    """Which hosts the workload imports (``hosts``), optionally on one ``port`` only."""

    port: SidecarPort | None = None
    bind: Str | None = None
    capture_mode: Literal["DEFAULT", "IPTABLES", "NONE"] | None = None
    hosts: tuple[Str, ...] = ()


class OutboundTrafficPolicy(IstioModel):
    """``mode``: ``REGISTRY_ONLY`` (Istio's default value) or ``ALLOW_ANY``."""

    mode: Literal["REGISTRY_ONLY", "ALLOW_ANY"] | None = None
    egress_proxy: Mapping[str, Any] | None = None


class SidecarWorkloadSelector(IstioModel):
    """Selects the workloads of the Sidecar's namespace by ``labels``."""

    labels: Mapping[str, Str] = Field(default_factory=dict)


class SidecarSpec(IstioModel):
    """``networking.v1.Sidecar``."""

    workload_selector: SidecarWorkloadSelector | None = None
    ingress: tuple[Mapping[str, Any], ...] = ()
    egress: tuple[IstioEgressListener, ...] = ()
    inbound_connection_pool: Mapping[str, Any] | None = None
    outbound_traffic_policy: OutboundTrafficPolicy | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        problems = Violations()
        if self.workload_selector is not None:
            check_selector_labels(self.workload_selector.labels, problems, "workloadSelector")
        if (
            not self.egress
            and not self.ingress
            and self.outbound_traffic_policy is None
            and self.inbound_connection_pool is None
        ):
            problems.add("sidecar: empty configuration provided")
        ports: set[int] = set()
        catch_all = False
        for i, egress in enumerate(self.egress):
            if egress.port is None:
                if catch_all:
                    problems.add(
                        "sidecar: egress can have only one listener with empty port", "egress", i
                    )
                elif i != len(self.egress) - 1:
                    problems.add(
                        "sidecar: the egress listener with empty port should be the last "
                        "listener in the list",
                        "egress",
                        i,
                    )
                catch_all = True
            else:
                port = egress.port
                if port.target_port:
                    problems.add("targetPort has no impact on Sidecars", "egress", i, "port")
                if port.number:
                    problems.add(check_port(port.number), "egress", i, "port", "number")
                    if port.number in ports:
                        problems.add(
                            "sidecar: ports on IP bound listeners must be unique",
                            "egress",
                            i,
                            "port",
                        )
                    ports.add(port.number)
                problems.add(check_protocol(port.protocol or ""), "egress", i, "port", "protocol")
                if port.name:
                    problems.add(check_dns1123_label(port.name, "port name"), "egress", i, "port")
            if not egress.hosts:
                problems.add("sidecar: egress listener must contain at least one host", "egress", i)
            for j, host in enumerate(egress.hosts):
                problems.add(check_egress_host(host), "egress", i, "hosts", j)
        problems.raise_if_any()
        return self


class Sidecar(IstioResource):
    """``networking.istio.io`` Sidecar: the scope of the workloads it selects."""

    api_version: NetworkingVersion = Field(default="networking.istio.io/v1", alias="apiVersion")
    kind: Literal["Sidecar"] = "Sidecar"
    spec: SidecarSpec
