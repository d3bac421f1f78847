"""Workload declarations, and the Service and WorkloadEntry resources that place them.

A workload is an ASGI app with a service name, a version, labels and a number of replicas
(Kubernetes: a Deployment). Each replica becomes a WorkloadEntry labelled ``app`` and
``version``, selected by the service's Kubernetes ``Service`` (generated when the
configuration does not declare the service), so DestinationRule subsets select replicas by
their labels as in a cluster.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..routing._hosts import to_fqdn

_NAMED = re.compile(r"^(?P<service>[a-z0-9]([-a-z0-9]*[a-z0-9])?)-(?P<version>v\d[-a-z0-9]*)$")
DEFAULT_PORT = 80


@dataclass(frozen=True)
class Workload:
    """An ASGI ``app`` serving ``service`` (``version`` and ``labels`` on each replica)."""

    app: Any
    service: str
    version: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    replicas: int = 1
    #: the service port (None: the configuration's, else 80)
    port: int | None = None
    namespace: str = "default"
    #: uvicorn settings under ``network="tcp"`` (``ssl_certfile``, ``ssl_keyfile``...)
    server_options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The workload's name (Istio: its Deployment's), ``reviews-v1``."""
        return f"{self.service}-{self.version}" if self.version else self.service

    def all_labels(self) -> dict[str, str]:
        out = {"app": self.service}
        if self.version:
            out["version"] = self.version
        out.update(self.labels)
        return out


def workload(
    app: Any,
    *,
    service: str,
    version: str = "",
    labels: Mapping[str, str] | None = None,
    replicas: int = 1,
    port: int | None = None,
    namespace: str = "default",
    server_options: Mapping[str, Any] | None = None,
) -> Workload:
    """Declare a workload: ``app`` serving ``service``, ``replicas`` endpoints of it.
    ``server_options`` go to uvicorn under ``network="tcp"`` (real TLS:
    ``ssl_certfile``, ``ssl_keyfile``)."""
    if replicas < 1:
        raise ValueError(f"workload {service!r}: replicas must be 1 or more, not {replicas}")
    return Workload(
        app=app,
        service=service,
        version=version,
        labels=dict(labels or {}),
        replicas=replicas,
        port=port,
        namespace=namespace,
        server_options=dict(server_options or {}),
    )


def as_workload(name: str, value: Any) -> Workload:
    """``{"reviews-v2": app}`` shorthand: the name splits into service and version (Istio's
    ``<app>-<version>`` Deployment names); a :class:`Workload` is taken as it is."""
    if isinstance(value, Workload):
        return value
    m = _NAMED.match(name)
    if m is not None:
        return workload(value, service=m["service"], version=m["version"])
    return workload(value, service=name)


@dataclass(frozen=True)
class Instance:
    """One replica of a workload at one address."""

    workload: Workload
    index: int
    address: str
    port: int
    port_name: str
    #: the service's port (the replica's own ``port`` differs under network="tcp")
    service_port: int

    @property
    def name(self) -> str:
        return f"{self.workload.name}-{self.index}"

    @property
    def key(self) -> str:
        return f"{self.address}:{self.port}"


def service_port(resources: list[Any], service: str, namespace: str) -> tuple[int, str] | None:
    """The first port (number, name) the configuration declares for ``service``."""
    fqdn = to_fqdn(service, namespace)
    for r in resources:
        if r.kind == "Service" and r.name == service and r.namespace == namespace:
            ports = r.spec.ports
            if ports:
                return ports[0].port, ports[0].name or "http"
        elif r.kind == "ServiceEntry" and r.spec.ports:
            hosts = {to_fqdn(h, r.namespace) for h in r.spec.hosts}
            if fqdn in hosts or service in r.spec.hosts:
                return r.spec.ports[0].number, r.spec.ports[0].name
    return None


def service_doc(w: Workload, port: int) -> dict[str, Any]:
    """A Kubernetes Service selecting the workload's replicas by ``app``."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": w.service, "namespace": w.namespace},
        "spec": {"ports": [{"port": port, "name": "http"}], "selector": {"app": w.service}},
    }


def entry_doc(inst: Instance) -> dict[str, Any]:
    """The replica as a WorkloadEntry (its address, port and labels)."""
    w = inst.workload
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "WorkloadEntry",
        "metadata": {"name": inst.name, "namespace": w.namespace},
        "spec": {
            "address": inst.address,
            "ports": {inst.port_name: inst.port},
            "labels": w.all_labels(),
        },
    }
