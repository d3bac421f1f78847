"""Istio's metadata exchange: the headers by which two mesh workloads learn each other's
workload name, namespace and labels for their metrics.

Sidecar mode (istio/proxy ``peer_metadata`` filter, ``istio_headers`` propagation): a
request to a mesh service carries ``x-envoy-peer-metadata-id`` (the proxy's node id) and
``x-envoy-peer-metadata`` (base64 of a serialized ``google.protobuf.Struct`` with
``NAME``, ``NAMESPACE``, ``CLUSTER_ID``, ``LABELS``, ``WORKLOAD_NAME``, ``OWNER``,
``SERVICE_ACCOUNT``); the destination answers with its own pair when the request brought
one. Ambient's ``baggage`` keys (``k8s.namespace.name``, ``k8s.deployment.name``...,
``service.name``, ``service.version``, ``app.name``, ``app.version``, ``k8s.cluster.name``;
``WorkloadMetadataObject::fromBaggage``) are read too; inmesh writes what sidecars write.

What a peer says here is a claim, used only for metric labels: identities (principals)
come from certificates alone. A workload's own pair is computed once
(:func:`exchange_headers`); a received one is parsed once per distinct value
(:func:`peer_from_headers` keeps a bounded cache), so a request costs a dict lookup, and
the same labels object comes back for the same peer (the metrics hook caches by it).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote

from ._labels import canonical_revision, canonical_service
from ._struct import decode_struct, encode_struct

__all__ = [
    "BAGGAGE_HEADER",
    "PEER_METADATA_HEADER",
    "PEER_METADATA_ID_HEADER",
    "PeerMetadata",
    "exchange_headers",
    "peer_from_headers",
]

PEER_METADATA_HEADER = b"x-envoy-peer-metadata"
PEER_METADATA_ID_HEADER = b"x-envoy-peer-metadata-id"
BAGGAGE_HEADER = b"baggage"

_NO_LABELS: Mapping[str, str] = MappingProxyType({})
_CANONICAL_NAME = "service.istio.io/canonical-name"
_CANONICAL_REVISION = "service.istio.io/canonical-revision"
# The labels a peer's metadata carries: those Istio's flat node keeps for telemetry
# (metadata_object.cc, convertWorkloadMetadataToFlatNode).
_KEPT_LABELS = ("app", "version", _CANONICAL_NAME, _CANONICAL_REVISION)
# Ambient's baggage keys naming the workload (metadata_object.h); k8s.workload.name is the
# OpenTelemetry semantic conventions' generic one.
_WORKLOAD_KEYS = frozenset(
    {
        "k8s.deployment.name",
        "k8s.workload.name",
        "k8s.pod.name",
        "k8s.job.name",
        "k8s.cronjob.name",
        "k8s.statefulset.name",
        "k8s.daemonset.name",
    }
)
_CACHE_LIMIT = 1024


@dataclass(frozen=True, slots=True)
class PeerMetadata:
    """What a peer workload says about itself (claims, never an identity).

    ``labels`` holds ``app``, ``version`` and the canonical service/revision labels when
    the peer sent them: the record's ``source_labels``/``destination_labels``."""

    workload: str = ""
    namespace: str = ""
    labels: Mapping[str, str] = field(default_factory=lambda: _NO_LABELS)
    cluster: str = ""
    #: the instance's name (Istio: the pod's)
    name: str = ""
    service_account: str = ""


def exchange_headers(
    *,
    workload: str,
    namespace: str,
    labels: Mapping[str, str],
    service_account: str = "",
    address: str = "127.0.0.1",
    cluster: str = "",
    trust_domain: str = "cluster.local",
) -> tuple[tuple[bytes, bytes], tuple[bytes, bytes]]:
    """This workload's ``x-envoy-peer-metadata-id`` and ``x-envoy-peer-metadata`` headers,
    as an Istio sidecar writes them: computed once per workload, sent as they are."""
    kept = {k: labels[k] for k in _KEPT_LABELS if k in labels}
    # Istio's injector sets the canonical labels on every pod (pkg/kube/labels)
    kept[_CANONICAL_NAME] = canonical_service(labels, workload)
    kept[_CANONICAL_REVISION] = canonical_revision(labels)
    fields: dict[str, Any] = {
        "NAME": workload,
        "NAMESPACE": namespace,
        "LABELS": kept,
        "WORKLOAD_NAME": workload,
        # Istio's OWNER for a Deployment (metadata_object.cc, OwnerPrefix)
        "OWNER": f"kubernetes://apis/apps/v1/namespaces/{namespace}/deployments/{workload}",
    }
    if cluster:
        fields["CLUSTER_ID"] = cluster
    if service_account:
        fields["SERVICE_ACCOUNT"] = service_account
    # Envoy's node id of a sidecar: sidecar~<ip>~<pod>.<namespace>~<namespace>.svc.<domain>
    node_id = f"sidecar~{address}~{workload}.{namespace}~{namespace}.svc.{trust_domain}"
    return (
        (PEER_METADATA_ID_HEADER, node_id.encode("utf-8")),
        (PEER_METADATA_HEADER, base64.b64encode(encode_struct(fields))),
    )


def _labels(value: Any) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        return _NO_LABELS
    kept = {k: value[k] for k in _KEPT_LABELS if isinstance(value.get(k), str)}
    return MappingProxyType(kept) if kept else _NO_LABELS


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _from_struct(encoded: bytes) -> PeerMetadata | None:
    try:
        raw = base64.b64decode(encoded + b"=" * (-len(encoded) % 4), validate=True)
        fields = decode_struct(raw)
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    return PeerMetadata(
        workload=_text(fields.get("WORKLOAD_NAME")),
        namespace=_text(fields.get("NAMESPACE")),
        labels=_labels(fields.get("LABELS")),
        cluster=_text(fields.get("CLUSTER_ID")),
        name=_text(fields.get("NAME")),
        service_account=_text(fields.get("SERVICE_ACCOUNT")),
    )


def _from_baggage(value: bytes) -> PeerMetadata | None:
    """Ambient's keys in a W3C baggage header (``WorkloadMetadataObject::fromBaggage``);
    None when it has none of them."""
    workload = namespace = cluster = name = ""
    labels: dict[str, str] = {}
    for member in value.decode("latin-1").split(","):
        key, eq, rest = member.partition("=")
        if not eq:
            continue
        key = key.strip()
        text = unquote(rest.partition(";")[0].strip())  # W3C: percent-encoded, ;properties
        if key in _WORKLOAD_KEYS:
            workload = text
            if key == "k8s.pod.name":
                name = text
        elif key == "k8s.namespace.name":
            namespace = text
        elif key == "k8s.cluster.name":
            cluster = text
        elif key == "service.name":
            labels[_CANONICAL_NAME] = text
        elif key == "service.version":
            labels[_CANONICAL_REVISION] = text
        elif key == "app.name":
            labels["app"] = text
        elif key == "app.version":
            labels["version"] = text
    if not (workload or namespace or labels):
        return None
    return PeerMetadata(
        workload=workload,
        namespace=namespace,
        labels=MappingProxyType(labels) if labels else _NO_LABELS,
        cluster=cluster,
        name=name,
    )


_parsed: dict[bytes, PeerMetadata | None] = {}


def peer_from_headers(metadata: bytes | None, baggage: bytes | None = None) -> PeerMetadata | None:
    """The peer from its ``x-envoy-peer-metadata`` value, else from ambient's ``baggage``
    keys; None when neither says anything (or the metadata is malformed: a peer that
    cannot be read is an unknown one, as Istio's filter treats it)."""
    if metadata is not None:
        key = metadata
    elif baggage is not None:
        key = b"b:" + baggage  # a baggage value never is a metadata value
    else:
        return None
    try:
        return _parsed[key]
    except KeyError:
        pass
    peer = _from_struct(metadata) if metadata is not None else _from_baggage(key[2:])
    if len(_parsed) >= _CACHE_LIMIT:
        _parsed.clear()
    _parsed[key] = peer
    return peer
