"""Istio's standard metric labels from a RequestRecord: names, order and ``unknown`` rules.

The rules are those of Istio's stats filter (istio/proxy
``source/extensions/filters/http/istio_stats/istio_stats.cc``, ``populatePeerInfo``): a
missing workload, namespace, principal, app, version or cluster is ``unknown``; a missing
canonical revision is ``latest``; ``response_flags`` is ``-`` when none; the source side's
``connection_security_policy`` is ``unknown``. Canonical service and revision come from
workload labels as Istio derives them (``pkg/kube/labels/labels.go``, ``CanonicalService``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._flags import BLACKHOLE_CLUSTER, PASSTHROUGH_CLUSTER
from ._record import RequestRecord

__all__ = [
    "LABEL_NAMES",
    "UNKNOWN",
    "canonical_revision",
    "canonical_service",
    "label_key",
    "labels_of",
    "namespace_of_principal",
    "request_protocol",
    "service_name",
]

UNKNOWN = "unknown"

#: Every standard label of ``istio_requests_total`` and the three histograms, in the
#: order of Istio's stats filter.
LABEL_NAMES: tuple[str, ...] = (
    "reporter",
    "source_workload",
    "source_workload_namespace",
    "source_principal",
    "source_app",
    "source_version",
    "source_canonical_service",
    "source_canonical_revision",
    "source_cluster",
    "destination_workload",
    "destination_workload_namespace",
    "destination_principal",
    "destination_app",
    "destination_version",
    "destination_service",
    "destination_service_name",
    "destination_service_namespace",
    "destination_canonical_service",
    "destination_canonical_revision",
    "destination_cluster",
    "request_protocol",
    "response_flags",
    "connection_security_policy",
    "response_code",
    "grpc_response_status",
)

# Istio's order matters: the first label present wins (pkg/kube/labels/labels.go).
_NAME_LABELS = ("service.istio.io/canonical-name", "app.kubernetes.io/name", "app")
_REVISION_LABELS = ("service.istio.io/canonical-revision", "app.kubernetes.io/version", "version")
# Clusters whose name Istio reports as destination_service_name.
_SPECIAL_CLUSTERS = frozenset(
    {
        BLACKHOLE_CLUSTER,
        PASSTHROUGH_CLUSTER,
        "InboundPassthroughCluster",
        "InboundPassthroughClusterIpv4",
        "InboundPassthroughClusterIpv6",
    }
)


def canonical_service(labels: Mapping[str, str], workload: str) -> str:
    """``service.istio.io/canonical-name``, else ``app.kubernetes.io/name``, else ``app``,
    else the workload name (Istio's ``CanonicalService``)."""
    for key in _NAME_LABELS:
        if key in labels:
            return labels[key]
    return workload


def canonical_revision(labels: Mapping[str, str]) -> str:
    """``service.istio.io/canonical-revision``, else ``app.kubernetes.io/version``, else
    ``version``, else ``latest``."""
    for key in _REVISION_LABELS:
        if key in labels:
            return labels[key]
    return "latest"


def request_protocol(content_type: str) -> str:
    """``grpc`` for a gRPC request (``content-type: application/grpc``, ``+proto``...; Envoy's
    ``Grpc::Common::isGrpcRequestHeaders``), ``http`` otherwise: the record's
    ``request_protocol``, for the transport and the middleware to fill."""
    if content_type[:16].lower() == "application/grpc":
        rest = content_type[16:17]
        if rest in ("", "+", ";"):
            return "grpc"
    return "http"


def namespace_of_principal(principal: str) -> str:
    """The namespace in a SPIFFE id's ``/ns/<namespace>/`` part, empty when none: Istio's
    stats filter takes a peer's namespace from its certificate before its metadata
    (``getNamespace`` in ``istio_stats.cc``)."""
    begin = principal.find("/ns/")
    if begin < 0:
        return ""
    return principal[begin + 4 :].partition("/")[0]


def service_name(host: str, cluster: str = "") -> str:
    """Istio's ``destination_service_name``: the special cluster's name for
    PassthroughCluster and BlackHoleCluster; the Kubernetes Service's name for a
    ``name.namespace.svc...`` host; the host itself otherwise (a ServiceEntry's service
    name is its host); ``unknown`` without one."""
    if cluster in _SPECIAL_CLUSTERS:
        return cluster
    if not host:
        return UNKNOWN
    name, _, rest = host.partition(".")
    if rest.partition(".")[2].startswith("svc"):
        return name
    return host


def _peer(workload: str, labels: Mapping[str, str], version: str = "") -> tuple[str, str, str, str]:
    """app, version, canonical service and revision of one side."""
    return (
        labels.get("app") or UNKNOWN,
        labels.get("version") or version or UNKNOWN,
        canonical_service(labels, workload) or UNKNOWN,
        canonical_revision(labels) or "latest",
    )


def label_key(rec: RequestRecord) -> tuple[Any, ...]:
    """What a record's standard labels derive from, as a cache key (the label mappings by
    identity: a cache holding the key must keep those mappings alive)."""
    return (
        rec.reporter,
        rec.source_service,
        rec.source_workload,
        rec.source_namespace,
        rec.source_version,
        rec.source_principal,
        id(rec.source_labels),
        rec.source_cluster,
        rec.destination_service,
        rec.cluster,
        rec.destination_workload,
        rec.destination_namespace,
        rec.destination_principal,
        id(rec.destination_labels),
        rec.destination_cluster,
        rec.request_protocol,
        rec.response_flags,
        rec.connection_security_policy,
        rec.status,
        rec.grpc_status,
    )


def labels_of(rec: RequestRecord) -> tuple[str, ...]:
    """The values of :data:`LABEL_NAMES` for ``rec``, in that order.

    Bounded by design: no path, id or address is a label (only workload and service names,
    principals, codes and flags). A source workload with no name falls back to the
    record's ``source_service`` (what every inmesh workload knows about itself).
    """
    src_workload = rec.source_workload or rec.source_service
    src_app, src_version, src_canon, src_rev = _peer(
        src_workload, rec.source_labels, rec.source_version
    )
    dst_app, dst_version, dst_canon, dst_rev = _peer(
        rec.destination_workload, rec.destination_labels
    )
    dst_namespace = rec.destination_namespace or UNKNOWN
    return (
        rec.reporter,
        src_workload or UNKNOWN,
        rec.source_namespace or UNKNOWN,
        rec.source_principal or UNKNOWN,
        src_app,
        src_version,
        src_canon,
        src_rev,
        rec.source_cluster or UNKNOWN,
        rec.destination_workload or UNKNOWN,
        dst_namespace,
        rec.destination_principal or UNKNOWN,
        dst_app,
        dst_version,
        rec.destination_service or UNKNOWN,
        service_name(rec.destination_service, rec.cluster),
        dst_namespace,
        dst_canon,
        dst_rev,
        rec.destination_cluster or UNKNOWN,
        rec.request_protocol or UNKNOWN,
        rec.response_flags or "-",
        rec.connection_security_policy,
        str(rec.status),
        rec.grpc_status,
    )
