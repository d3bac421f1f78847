"""Gateway analyzers (Istio's ``analyzers/gateway``):

- ``CertificateAnalyzer``: IST0138 two gateways whose selectors overlap serving the same
  certificate (same credentialName, or same serverCertificate and privateKey);
- ``ConflictingGatewayAnalyzer``: IST0145 gateways with the same selector that bind one
  port and host twice (``model.CheckDuplicates``). Istio also compares selectors that
  contain one another through the pods both select; inmesh compares equal selectors only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._namespaces import selects
from ._message import Message, resource_label


def _same_certificate(a: Any, b: Any) -> bool:
    """haveSameCertificate."""
    if a.credential_name and b.credential_name:
        return bool(a.credential_name == b.credential_name)
    if a.credential_name or b.credential_name:
        return False
    if not a.server_certificate or a.server_certificate != b.server_certificate:
        return False
    return bool(a.private_key and b.private_key and a.private_key == b.private_key)


def duplicate_certificates(gateways: Sequence[Any]) -> list[Message]:
    """IST0138 for every gateway sharing a certificate with another it may serve with."""
    msgs: list[Message] = []
    for r in gateways:
        selector = dict(r.spec.selector or {})
        for other in gateways:
            # selectorSubset: every label of r's selector in the other's
            if other is r or not selects(selector, dict(other.spec.selector or {})):
                continue
            pairs = [
                (s.tls, t.tls)
                for s in r.spec.servers or ()
                for t in other.spec.servers or ()
                if s.tls is not None and t.tls is not None
            ]
            if any(_same_certificate(a, b) for a, b in pairs):
                msgs.append(
                    Message(
                        "Warning",
                        "IST0138",
                        "GatewayDuplicateCertificate",
                        resource_label(r),
                        f"Duplicate certificate in multiple gateways [{r.namespace}/{r.name} "
                        f"{other.namespace}/{other.name}] may cause 404s if clients re-use "
                        "HTTP2 connections.",
                    )
                )
    return msgs


def _selector_string(selector: Mapping[str, str]) -> str:
    # labels.SelectorFromSet(...).String(): "k=v" pairs sorted by key, comma-separated.
    return ",".join(f"{k}={selector[k]}" for k in sorted(selector))


def conflicting_gateways(gateways: Sequence[Any]) -> list[Message]:
    """IST0145, per server of a gateway that another gateway's server duplicates."""
    msgs: list[Message] = []
    for r in gateways:
        selector = _selector_string(dict(r.spec.selector or {}))
        for server in r.spec.servers or ():
            port = server.port.number
            others = sorted(
                f"{o.namespace}/{o.name}"
                for o in gateways
                if o is not r
                and _selector_string(dict(o.spec.selector or {})) == selector
                and any(
                    t.port.number == port
                    and (t.bind or "") == (server.bind or "")
                    and set(t.hosts) & set(server.hosts)
                    for t in o.spec.servers or ()
                )
            )
            if others:
                msgs.append(
                    Message(
                        "Error",
                        "IST0145",
                        "ConflictingGateways",
                        resource_label(r),
                        f"Conflict with gateways {','.join(others)} (workload selector "
                        f"{selector}, port {port}, hosts {','.join(server.hosts)}).",
                    )
                )
    return msgs


def check_gateways(resources: Sequence[Any]) -> list[Message]:
    """Every Gateway message."""
    gateways = [r for r in resources if r.kind == "Gateway"]
    return [*duplicate_certificates(gateways), *conflicting_gateways(gateways)]
