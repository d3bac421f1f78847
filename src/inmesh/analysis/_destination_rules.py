"""The DestinationRule analyzers of Istio's ``analyzers/destinationrule`` package:

- ``PodNotSelectedAnalyzer``: IST0174 a host no visible service defines (Warning); IST0173
  a subset that selects no workload (Error): its labels merged over the ServiceEntry's
  workloadSelector or the Service's selector (the pods a subset can pick are the
  service's). A file analysis is the whole configuration, as istioctl assumes: no
  workload described means none exists. A registry's resources hold no workloads, so it
  checks subsets only when some are described;
- ``CaCertificateAnalyzer``: IST0128 / IST0129 SIMPLE or MUTUAL TLS with no
  caCertificates to verify the server (unless a credentialName with a workloadSelector).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._index import Services, Workloads
from ._message import Message, resource_label


def workload_labels(resources: Sequence[Any]) -> Workloads:
    """The labels of every workload the configuration describes, indexed."""
    return Workloads(labels for r in resources for labels in described_labels(r))


def described_labels(r: Any) -> list[dict[str, str]]:
    """The labels of each workload one resource describes (none for most kinds)."""
    if r.kind == "WorkloadEntry":
        return [dict(r.spec.labels or {})]
    if r.kind == "ServiceEntry":
        return [dict(e.labels or {}) for e in r.spec.endpoints or ()]
    if r.kind == "Deployment":
        return [dict(r.pod_labels)]
    return []


def subsets_select(r: Any, services: Services, workloads: Workloads | None) -> list[Message]:
    """IST0174 and IST0173 for one DestinationRule (``workloads`` None: not known)."""
    label, spec = resource_label(r), r.spec
    service = services.lookup(r.namespace, spec.export_to, spec.host)
    if service is None:
        return [
            Message(
                "Warning",
                "IST0174",
                "UnknownDestinationRuleHost",
                label,
                f"The host {spec.host} defined in the DestinationRule does not match any "
                "services in the mesh.",
            )
        ]
    if workloads is None:
        return []
    base: dict[str, str] = {}
    se = service.resource
    if se.kind == "ServiceEntry" and se.spec.workload_selector is not None:
        base = dict(se.spec.workload_selector.labels or {})
    elif se.kind == "Service":
        base = dict(se.spec.selector)
    msgs: list[Message] = []
    for s in spec.subsets or ():
        want = {**base, **dict(s.labels or {})}
        if not workloads.any_selected(want):
            msgs.append(
                Message(
                    "Error",
                    "IST0173",
                    "DestinationRuleSubsetNotSelectPods",
                    label,
                    f"The Subset {s.name} defined in the DestinationRule does not select any "
                    "pods. Which may lead to 503 UH (NoHealthyUpstream).",
                )
            )
    return msgs


def ca_certificates(r: Any) -> list[Message]:
    """IST0128 (destination level) and IST0129 (port level)."""
    spec, msgs = r.spec, []
    policy = spec.traffic_policy
    name = f"{r.namespace}/{r.name}"

    def unverified(tls: Any) -> str | None:
        if tls is None or tls.mode not in ("SIMPLE", "MUTUAL") or tls.ca_certificates:
            return None
        if tls.credential_name and spec.workload_selector is not None:
            return None
        return str(tls.mode)

    mode = unverified(policy.tls if policy is not None else None)
    if mode is not None:
        msgs.append(
            Message(
                "Warning",
                "IST0128",
                "NoServerCertificateVerificationDestinationLevel",
                resource_label(r),
                f"DestinationRule {name} in namespace {r.namespace} has TLS mode set to "
                f"{mode} but no caCertificates are set to validate server identity for "
                f"host: {spec.host}",
            )
        )
    for p in policy.port_level_settings if policy is not None else ():
        mode = unverified(p.tls)
        if mode is not None:
            port = f"number:{p.port.number}" if p.port is not None else ""
            msgs.append(
                Message(
                    "Warning",
                    "IST0129",
                    "NoServerCertificateVerificationPortLevel",
                    resource_label(r),
                    f"DestinationRule {name} in namespace {r.namespace} has TLS mode set to "
                    f"{mode} but no caCertificates are set to validate server identity for "
                    f"host: {spec.host} at port {port}",
                )
            )
    return msgs
