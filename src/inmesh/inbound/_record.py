"""The destination side's RequestRecord (``reporter="destination"``): one per inbound
request, built only when the workload's Mesh has hooks.

What Istio's destination reporter knows: the caller's principal and namespace from the
verified certificate (``connection_security_policy`` ``mutual_tls``) or nothing
(``none``), this workload's own name, labels and principal, the status and body size, and
the authorization decision with the policy that made it (Envoy's RBAC filter writes
``rbac_access_denied_matched_policy[<policy>]`` as the response code details of a denial).
The caller's workload name, namespace, labels and cluster come from its metadata exchange
headers (``source``; claims, used as labels only), its namespace first from its certificate.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, MutableMapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..routing._hosts import to_fqdn
from ..telemetry import RequestRecord
from ..telemetry._labels import request_protocol
from ..telemetry._record import AsgiHeaders

_NONE: Mapping[str, str] = MappingProxyType({})

if TYPE_CHECKING:
    from .._mesh import Mesh
    from ..security import Decision
    from ..telemetry._exchange import PeerMetadata
    from ._peer import Peer


def _protocol(scope: MutableMapping[str, Any]) -> str:
    for name, value in scope.get("headers") or ():
        if name == b"content-type":
            return request_protocol(value.decode("latin-1"))
    return "http"


def authorization_of(decision: Decision | None) -> str:
    """``ALLOW ns/name``, ``DENY ns/name`` (``-`` for no policy), empty without a check."""
    if decision is None:
        return ""
    return f"{decision.action} {decision.policy or '-'}"


def _connection_fields(
    scope: MutableMapping[str, Any], local: str, server_name: str | None
) -> dict[str, Any]:
    """The record's fields for Envoy's access log: protocol, query, headers, addresses."""
    client = scope.get("client") or (None, None)
    return {
        "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
        "query": scope.get("query_string", b"").decode("latin-1"),
        "request_headers": AsgiHeaders(scope.get("headers") or ()),
        "downstream_local_address": local,
        "downstream_remote_address": f"{client[0]}:{client[1]}" if client[0] else "",
        "requested_server_name": server_name or "",
    }


def emit_inbound(
    mesh: Mesh,
    scope: MutableMapping[str, Any],
    *,
    peer: Peer | None,
    mtls: bool,
    decision: Decision | None,
    status: int,
    response_bytes: int,
    start: float,
    source: PeerMetadata | None = None,
    request_bytes: int = 0,
    server_name: str | None = None,
    grpc_status: str = "",
) -> None:
    """Build the record and call the Mesh's hooks. ``server_name`` is the SNI the client
    asked for on a TLS connection (Envoy's ``%REQUESTED_SERVER_NAME%``)."""
    end = time.perf_counter()
    server = scope.get("server") or (None, None)
    local = f"{server[0]}:{server[1]}" if server[0] else ""
    state = mesh._state
    tls = mesh.tls
    labels: Mapping[str, str] = mesh.labels
    denied = decision is not None and not decision.allowed
    record = RequestRecord(
        source_service="",
        # Istio: the peer certificate's namespace first, then the peer's metadata
        source_namespace=(peer.namespace if peer is not None else "")
        or (source.namespace if source is not None else ""),
        source_version="",
        destination_service=to_fqdn(mesh.service, mesh.namespace),
        destination_subset="",
        destination_endpoint=local,
        route_name="default",  # Istio's name for every inbound route
        cluster=f"inbound|{server[1] or ''}||",  # Envoy's inbound cluster, as Istio names it
        method=scope.get("method", "GET"),
        path=scope.get("path", ""),
        status=status,
        response_flags="-",
        attempts=1,
        duration=end - start,
        start_time=time.time() - (end - start),
        details=(
            f"rbac_access_denied_matched_policy[{decision.policy or 'none'}]"
            if denied and decision is not None
            else "via_upstream"
        ),
        reporter="destination",
        response_bytes=response_bytes,
        source_principal=f"spiffe://{peer.principal}" if peer is not None else "",
        source_workload=source.workload if source is not None else "",
        source_labels=source.labels if source is not None else _NONE,
        source_cluster=source.cluster if source is not None else "",
        destination_workload=state.workload,
        request_bytes=request_bytes,
        grpc_status=grpc_status,
        destination_namespace=mesh.namespace,
        destination_principal=tls.current().identity.uri if tls is not None else "",
        destination_labels=labels,
        request_protocol=_protocol(scope),
        connection_security_policy="mutual_tls" if mtls else "none",
        authorization=authorization_of(decision),
        telemetry=state.telemetry,
        # what only access logs and Telemetry expressions read, made when one may
        **(_connection_fields(scope, local, server_name) if state.full_records else {}),
    )
    for hook in mesh.hooks:
        hook(record)
