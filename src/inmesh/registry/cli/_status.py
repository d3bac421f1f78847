"""``inmesh status``: services, their versions and endpoints, each endpoint's health and
age, computed from what the registry lists (pure functions over documents, so they are
tested without a registry).

Which workloads a service has follows Istio: a ServiceEntry's ``workloadSelector`` (or
its inline ``endpoints``) and a Kubernetes Service's ``selector`` pick WorkloadEntries of
their own namespace; a workload's version is its ``version`` label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..._namespaces import selects

__all__ = [
    "EndpointRow",
    "ServiceRow",
    "format_age",
    "render_ca",
    "render_status",
    "status_rows",
    "table",
]


def format_age(seconds: float) -> str:
    """kubectl's style: 42s, 7m, 5h, 3d."""
    s = max(0, int(seconds))
    if s < 120:
        return f"{s}s"
    if s < 2 * 3600:
        return f"{s // 60}m"
    if s < 2 * 86400:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointRow:
    namespace: str
    name: str
    service: str
    version: str
    address: str
    health: str
    age: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceRow:
    host: str
    namespace: str
    ports: str
    versions: str
    endpoints: int


def _meta(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    return doc.get("metadata") or {}


def _spec(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    return doc.get("spec") or {}


def _selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    # an empty selector picks no WorkloadEntry here (a Service without one has none)
    return bool(selector) and selects(selector, labels)


def _services(
    docs: Sequence[Mapping[str, Any]],
) -> list[tuple[str, str, str, Mapping[str, str], list[Mapping[str, Any]]]]:
    """(host, namespace, ports, selector, inline endpoints) per service host."""
    out: list[tuple[str, str, str, Mapping[str, str], list[Mapping[str, Any]]]] = []
    for doc in docs:
        ns = _meta(doc).get("namespace") or "default"
        spec = _spec(doc)
        if doc.get("kind") == "ServiceEntry":
            ports = ",".join(
                f"{p.get('number')}/{p.get('protocol', '')}".rstrip("/")
                for p in spec.get("ports") or ()
            )
            selector = (spec.get("workloadSelector") or {}).get("labels") or {}
            for host in spec.get("hosts") or ():
                out.append((host, ns, ports, selector, list(spec.get("endpoints") or ())))
        elif doc.get("kind") == "Service":
            ports = ",".join(str(p.get("port")) for p in spec.get("ports") or ())
            host = f"{_meta(doc).get('name')}.{ns}.svc.cluster.local"
            out.append((host, ns, ports, spec.get("selector") or {}, []))
    return out


def status_rows(
    docs: Sequence[Mapping[str, Any]], registrations: Sequence[Mapping[str, Any]]
) -> tuple[list[ServiceRow], list[EndpointRow]]:
    """Rows for the two tables. ``registrations`` are ``GET /v1/workloads`` items."""
    live = {(r["namespace"], r["name"]): r for r in registrations}
    workloads = [d for d in docs if d.get("kind") == "WorkloadEntry"]
    for r in registrations:
        if not any(
            (_meta(w).get("namespace"), _meta(w).get("name")) == (r["namespace"], r["name"])
            for w in workloads
        ):
            workloads.append(r["workload"])
    services = _services(docs)
    service_rows: list[ServiceRow] = []
    owner: dict[tuple[str, str], str] = {}
    for host, ns, ports, selector, inline in services:
        chosen = [
            w
            for w in workloads
            if (_meta(w).get("namespace") or "default") == ns
            and _selects(selector, _spec(w).get("labels") or {})
        ]
        for w in chosen:
            owner.setdefault((ns, _meta(w).get("name", "")), host.split(".")[0])
        selected = [_spec(w).get("labels") or {} for w in chosen] + [
            e.get("labels") or {} for e in inline
        ]
        versions = sorted({lb["version"] for lb in selected if "version" in lb})
        service_rows.append(
            ServiceRow(
                host=host,
                namespace=ns,
                ports=ports or "-",
                versions=",".join(versions) or "-",
                endpoints=len(chosen) + len(inline),
            )
        )
    endpoint_rows: list[EndpointRow] = []
    for w in workloads:
        meta, spec = _meta(w), _spec(w)
        ns, name = meta.get("namespace") or "default", meta.get("name", "")
        labels: Mapping[str, str] = spec.get("labels") or {}
        ports = ",".join(str(p) for p in (spec.get("ports") or {}).values())
        address = spec.get("address", "") + (f":{ports}" if ports else "")
        reg = live.get((ns, name))
        if reg is not None:
            health = f"live (heartbeat {reg['lastHeartbeat']:.0f}s ago, ttl {reg['ttl']:g}s)"
            age = format_age(reg["age"])
        else:
            health = "static"
            age = "-"
        service = owner.get((ns, name)) or labels.get("app") or "-"
        endpoint_rows.append(
            EndpointRow(
                namespace=ns,
                name=name,
                service=service,
                version=labels.get("version", "-"),
                address=address,
                health=health,
                age=age,
            )
        )
    return service_rows, endpoint_rows


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    return [
        "   ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip()
        for row in (header, *rows)
    ]


def render_status(services: Sequence[ServiceRow], endpoints: Sequence[EndpointRow]) -> str:
    lines = (
        table(
            ("SERVICE", "NAMESPACE", "PORTS", "VERSIONS", "ENDPOINTS"),
            [(s.host, s.namespace, s.ports, s.versions, str(s.endpoints)) for s in services],
        )
        if services
        else ["No services."]
    )
    lines.append("")
    lines += (
        table(
            ("ENDPOINT", "NAMESPACE", "SERVICE", "VERSION", "ADDRESS", "HEALTH", "AGE"),
            [
                (e.name, e.namespace, e.service, e.version, e.address, e.health, e.age)
                for e in endpoints
            ],
        )
        if endpoints
        else ["No endpoints."]
    )
    return "\n".join(lines)


def render_ca(ca: Mapping[str, Any] | None) -> str:
    """The CA lines of ``inmesh status`` from ``GET /v1/ca/roots`` (None: no CA)."""
    if ca is None:
        return "CA: none (this registry issues no certificates)"
    signing = ca.get("signingCert") or {}
    lines = [
        f"CA: trust domain {ca.get('trustDomain', '-')}, signing certificate "
        f"{signing.get('subject') or '-'} ({signing.get('source', '-')}), "
        f"expires {signing.get('notAfter', '-')}"
    ]
    lines += table(
        ("ROOT FINGERPRINT", "SUBJECT", "EXPIRES"),
        [
            (r.get("fingerprint", "-"), r.get("subject") or "-", r.get("notAfter", "-"))
            for r in ca.get("roots") or ()
        ],
    )
    return "\n".join(lines)
