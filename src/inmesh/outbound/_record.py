"""One RequestRecord per outbound request, delivered to the workload's hooks."""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from httpx import ByteStream

from .._flags import PASSTHROUGH_CLUSTER
from ..telemetry import RequestRecord
from ..telemetry._labels import request_protocol

_NONE: Mapping[str, str] = MappingProxyType({})
_PORTS = {"http": 80, "https": 443}


def _protocol(upstream: Mapping[str, Any] | None) -> str:
    """Envoy's ``%PROTOCOL%``: the upstream's HTTP version (httpx's default HTTP/1.1 when
    the mesh answered itself)."""
    version = upstream.get("http_version") if upstream is not None else None
    return version.decode("ascii") if isinstance(version, bytes) else "HTTP/1.1"


def _local_address(upstream: Mapping[str, Any] | None) -> str:
    """``ip:port`` of this side of the upstream connection, empty when unknown (no
    connection, or it is closed already)."""
    stream = upstream.get("network_stream") if upstream is not None else None
    if stream is None:
        return ""
    try:
        address = stream.get_extra_info("client_addr")
    except Exception:  # a closed connection: the address is gone
        return ""
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return ""


def _connection_fields(
    request: httpx.Request, upstream: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The record's fields for Envoy's access log: protocol, query, headers, addresses."""
    url = request.url
    return {
        "protocol": _protocol(upstream),
        "query": url.query.decode("ascii", "replace"),
        "request_headers": request.headers,
        "upstream_local_address": _local_address(upstream),
        "downstream_local_address": f"{url.host}:{url.port or _PORTS.get(url.scheme, 80)}",
    }


if TYPE_CHECKING:
    import httpx

    from .._state import MeshState
    from ..routing import Cluster, RequestView, Route
    from ..telemetry._exchange import PeerMetadata


def emit(
    state: MeshState,
    request: httpx.Request,
    *,
    view: RequestView | None = None,
    status: int,
    flags: str,
    start: float,
    attempts: int,
    cluster: Cluster | None,
    route: Route | None,
    endpoint: str = "",
    destination: str = "",
    cluster_name: str = "",
    details: str = "",
    error: str = "",
    destination_labels: Mapping[str, str] | None = None,
    response_bytes: int = 0,
    grpc_status: str = "",
    peer: PeerMetadata | None = None,
    upstream: Mapping[str, Any] | None = None,
    destination_principal: str = "",
) -> None:
    """Build the record and call every hook (nothing to do without hooks).

    The source side of Istio's labels (``reporter="source"``): this workload's name, labels
    and SPIFFE id; the destination's workload, namespace, labels and cluster from what it
    said in its metadata exchange headers (``peer``), else the destination's namespace and
    the endpoint's labels; its principal from the certificate a mesh mTLS handshake
    verified (``destination_principal``), else unknown.

    For the access log: the protocol and the local address of the upstream connection
    come from the final upstream response's ``upstream`` extensions; the downstream local
    address is the one the application asked for (Envoy's original destination)."""
    hooks = state.hooks
    if not hooks:
        return
    end = time.perf_counter()
    identity = state.identity
    tls = state.tls
    stream = request.stream
    content_type = view.headers.get("content-type") if view is not None else None
    url = request.url
    rec = RequestRecord(
        source_service=identity.service,
        source_namespace=identity.namespace,
        source_version=state.version,
        destination_service=cluster.service.host if cluster is not None else destination,
        destination_subset=(cluster.subset or "") if cluster is not None else "",
        destination_endpoint=endpoint,
        route_name=route.name if route is not None else "",
        cluster=cluster.name if cluster is not None else (cluster_name or PASSTHROUGH_CLUSTER),
        method=request.method,
        path=view.path if view is not None else url.path,  # as sent (Envoy: %REQ(:PATH)%)
        status=status,
        response_flags=flags or "-",
        attempts=attempts,
        duration=end - start,
        start_time=time.time() - (end - start),
        details=details,
        error=error,
        reporter="source",
        request_protocol=request_protocol(content_type) if content_type else "http",
        grpc_status=grpc_status,
        request_bytes=len(request.content) if isinstance(stream, ByteStream) else 0,
        response_bytes=response_bytes,
        source_workload=state.workload,
        source_principal=tls.current().identity.uri if tls is not None else "",
        source_labels=identity.labels,
        destination_workload=peer.workload if peer is not None else "",
        destination_namespace=(
            (peer.namespace if peer is not None else "")
            or (cluster.service.namespace if cluster is not None else "")
        ),
        destination_labels=(
            peer.labels
            if peer is not None
            else (destination_labels if destination_labels is not None else _NONE)
        ),
        destination_cluster=peer.cluster if peer is not None else "",
        destination_principal=destination_principal,
        connection_security_policy="unknown",  # Istio: the source side cannot tell
        telemetry=state.telemetry,
        # what only access logs and Telemetry expressions read, made when one may
        **(_connection_fields(request, upstream) if state.full_records else {}),
    )
    for hook in hooks:
        hook(rec)
