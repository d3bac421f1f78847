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
from ..telemetry._metrics import MetricsHook, counting_hook

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


if TYPE_CHECKING:
    import httpx

    from .._state import MeshState
    from ..routing import Cluster, RequestView, Route
    from ..telemetry._exchange import PeerMetadata
    from ._call import Call


def emit(
    state: MeshState,
    request: httpx.Request,
    *,
    view: RequestView,
    status: int,
    flags: str,
    start: float,
    cluster: Cluster | None,
    route: Route | None,
    destination: str = "",
    cluster_name: str = "",
    details: str = "",
    error: str = "",
) -> None:
    """The record of an answer of the route tier (nothing sent upstream: no endpoint,
    no attempt, no response), delivered to every hook; a call that reached the router is
    recorded by :func:`emit_call`."""
    hooks = state.hooks
    if not hooks:
        return
    rec = _record(
        state,
        request,
        view,
        status,
        flags,
        start,
        0,  # attempts
        cluster,
        route,
        "",  # endpoint
        destination,
        cluster_name,
        details,
        error,
        None,  # destination labels
        0,  # response bytes
        "",  # gRPC status
        None,  # peer
        None,  # upstream extensions
        "",  # destination principal
    )
    for hook in hooks:
        hook(rec)


def emit_call(call: Call, status: int, flags: str) -> None:
    """The record of a call, delivered to every hook (read off the call: no keywords to
    pass on the request path).

    When the only hook is a :class:`MetricsHook` and the Telemetry API changes nothing in
    the client's metrics (the default), no record is made once the hook knows the call's
    label set: :func:`_count` names it by what the labels derive from."""
    state = call._state
    hooks = state.hooks
    if not hooks:
        return
    metrics = counting_hook(hooks, state.telemetry.client_metrics)
    if metrics is not None:
        _count(metrics, call, status, flags)
        return
    rec = _record_of(call, status, flags)
    for hook in hooks:
        hook(rec)


def _record_of(call: Call, status: int, flags: str) -> RequestRecord:
    ep = call._last_ep
    return _record(
        call._state,
        call.request,
        call.view,
        status,
        flags,
        call.start,
        call.attempts,
        call.cluster,
        call.route,
        call._last_key,
        call.view.host,
        "",
        call.details,
        call.error,
        ep.labels if ep is not None else None,
        call.response_bytes,
        call.grpc_status,
        call.peer,
        call.upstream,
        call.server_principal,
    )


def _count(metrics: MetricsHook, call: Call, status: int, flags: str) -> None:
    """The call counted in ``metrics`` by its key (one call: ``count_by``); its record made
    only the first time.

    The key is what every standard label of the call's record derives from
    (telemetry/_labels.py): the workload (its state: identity, version and labels never
    change; the principal by value), the cluster (service, namespace, name) or the host of
    a request sent as it is, the endpoint's labels and the peer's metadata by identity
    (both kept alive by the hook), the server's principal, the protocol, flags, status and
    gRPC status. (Built here, not in a function of its own: once a request.)"""
    ep = call._last_ep
    labels = ep.labels if ep is not None else None
    peer = call.peer
    state = call._state
    tls = state.tls
    cluster = call.cluster
    view = call.view
    content_type = view.headers.get("content-type")
    key = (
        state,
        tls.current().identity.uri if tls is not None else "",
        cluster,
        view.host if cluster is None else "",
        id(labels),
        id(peer),
        call.server_principal,
        request_protocol(content_type) if content_type else "http",
        flags or "-",
        status,
        call.grpc_status,
    )
    request = call.request
    if not metrics.count_by(
        key,
        time.perf_counter() - call.start,
        len(request.content) if isinstance(request.stream, ByteStream) else 0,
        call.response_bytes,
    ):
        metrics.learn(key, (labels, peer), _record_of(call, status, flags))


def _record(
    state: MeshState,
    request: httpx.Request,
    view: RequestView | None,
    status: int,
    flags: str,
    start: float,
    attempts: int,
    cluster: Cluster | None,
    route: Route | None,
    endpoint: str,
    destination: str,
    cluster_name: str,
    details: str,
    error: str,
    destination_labels: Mapping[str, str] | None,
    response_bytes: int,
    grpc_status: str,
    peer: PeerMetadata | None,
    upstream: Mapping[str, Any] | None,
    destination_principal: str,
    /,
) -> RequestRecord:
    """The record (positional only: it is built on every request).

    The source side of Istio's labels (``reporter="source"``): this workload's name, labels
    and SPIFFE id; the destination's workload, namespace, labels and cluster from what it
    said in its metadata exchange headers (``peer``), else the destination's namespace and
    the endpoint's labels; its principal from the certificate a mesh mTLS handshake
    verified (``destination_principal``), else unknown.

    For the access log: the protocol and the local address of the upstream connection
    come from the final upstream response's ``upstream`` extensions; the downstream local
    address is the one the application asked for (Envoy's original destination)."""
    end = time.perf_counter()
    identity = state.identity
    tls = state.tls
    stream = request.stream
    content_type = view.headers.get("content-type") if view is not None else None
    url = request.url
    if state.full_records:  # what only access logs and Telemetry expressions read
        protocol = _protocol(upstream)
        query = url.query.decode("ascii", "replace")
        request_headers: Mapping[str, str] = request.headers
        upstream_local = _local_address(upstream)
        downstream_local = f"{url.host}:{url.port or _PORTS.get(url.scheme, 80)}"
    else:
        protocol = query = upstream_local = downstream_local = ""
        request_headers = _NONE
    # Positional, in the order of RequestRecord's fields: a call with 40 keywords costs
    # ~0.8 us more on every request (tests/unit/outbound/test_record.py checks each field).
    return RequestRecord(
        identity.service,  # source_service
        identity.namespace,  # source_namespace
        state.version,  # source_version
        cluster.service.host if cluster is not None else destination,  # destination_service
        (cluster.subset or "") if cluster is not None else "",  # destination_subset
        endpoint,  # destination_endpoint
        route.name if route is not None else "",  # route_name
        cluster.name if cluster is not None else (cluster_name or PASSTHROUGH_CLUSTER),
        request.method,  # method
        view.path if view is not None else url.path,  # path, as sent (Envoy: %REQ(:PATH)%)
        status,  # status
        flags or "-",  # response_flags
        attempts,  # attempts
        end - start,  # duration
        time.time() - (end - start),  # start_time
        details,  # details
        error,  # error
        "source",  # reporter
        request_protocol(content_type) if content_type else "http",  # request_protocol
        grpc_status,  # grpc_status
        len(request.content) if isinstance(stream, ByteStream) else 0,  # request_bytes
        response_bytes,  # response_bytes
        state.workload,  # source_workload
        tls.current().identity.uri if tls is not None else "",  # source_principal
        identity.labels,  # source_labels
        "",  # source_cluster
        peer.workload if peer is not None else "",  # destination_workload
        (peer.namespace if peer is not None else "")  # destination_namespace
        or (cluster.service.namespace if cluster is not None else ""),
        destination_principal,  # destination_principal
        (  # destination_labels
            peer.labels
            if peer is not None
            else (destination_labels if destination_labels is not None else _NONE)
        ),
        peer.cluster if peer is not None else "",  # destination_cluster
        "",  # authorization (the destination side's)
        "unknown",  # connection_security_policy: Istio's source side cannot tell
        protocol,  # protocol
        query,  # query
        request_headers,  # request_headers
        upstream_local,  # upstream_local_address
        downstream_local,  # downstream_local_address
        "",  # downstream_remote_address
        "",  # requested_server_name
        state.telemetry,  # telemetry
    )
