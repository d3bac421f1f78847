"""The destination side's RequestRecord (``reporter="destination"``): one per inbound
request, built only when the workload's Mesh has hooks.

What Istio's destination reporter knows: the caller's principal and namespace from the
verified certificate (``connection_security_policy`` ``mutual_tls``) or nothing
(``none``), this workload's own name, labels and principal, the status and body size, and
the authorization decision with the policy that made it (Envoy's RBAC filter writes
``rbac_access_denied_matched_policy[<policy>]`` as the response code details of a denial).
The caller's workload name, namespace, labels and cluster come from its metadata exchange
headers (``source``; claims, used as labels only), its namespace first from its certificate.

One :class:`InboundRecorder` per middleware: what is the same for every request of the
workload (its service name, principal, inbound cluster per port, the strings of a peer's
principal and of a decision) is computed once and reused, so a request pays only for the
record itself and the hooks.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, MutableMapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..routing._hosts import to_fqdn
from ..telemetry import RequestRecord
from ..telemetry._labels import request_protocol
from ..telemetry._metrics import counting_hook
from ..telemetry._record import AsgiHeaders

_NONE: Mapping[str, str] = MappingProxyType({})
_NO_ADDRESS = (None, None)
_CACHE_LIMIT = 1024

if TYPE_CHECKING:
    from .._mesh import Mesh
    from ..security import Decision
    from ..telemetry._exchange import PeerMetadata
    from ._peer import Peer

__all__ = ["InboundRecorder", "authorization_of"]


def authorization_of(decision: Decision | None) -> str:
    """``ALLOW ns/name``, ``DENY ns/name`` (``-`` for no policy), empty without a check."""
    if decision is None:
        return ""
    return f"{decision.action} {decision.policy or '-'}"


class InboundRecorder:
    """Builds the destination-side records of one Mesh's workload (see the module)."""

    __slots__ = (
        "_decisions",
        "_local",
        "_mesh",
        "_peers",
        "_principal",
        "_service",
    )

    def __init__(self, mesh: Mesh) -> None:
        self._mesh = mesh
        self._service = to_fqdn(mesh.service, mesh.namespace)
        # scope["server"] -> (downstream local address, Envoy's inbound cluster)
        self._local: dict[Any, tuple[str, str]] = {}
        # id(peer) -> (peer, its principal with spiffe://)
        self._peers: dict[int, tuple[Peer, str]] = {}
        # id(decision) -> (decision, authorization, details)
        self._decisions: dict[int, tuple[Decision, str, str]] = {}
        # (the workload's current certificate, its SPIFFE id): renewed in place
        self._principal: tuple[Any, str] = (None, "")

    def _server(self, server: Any) -> tuple[str, str]:
        found = self._local.get(server)
        if found is None:
            ip, port = server
            found = (
                f"{ip}:{port}" if ip else "",
                f"inbound|{port or ''}||",  # Envoy's inbound cluster, as Istio names it
            )
            if len(self._local) >= _CACHE_LIMIT:
                self._local.clear()
            self._local[server] = found
        return found

    def _source_principal(self, peer: Peer) -> str:
        found = self._peers.get(id(peer))
        if found is None or found[0] is not peer:
            found = (peer, f"spiffe://{peer.principal}")
            if len(self._peers) >= _CACHE_LIMIT:
                self._peers.clear()
            self._peers[id(peer)] = found
        return found[1]

    def _decision(self, decision: Decision) -> tuple[Decision, str, str]:
        found = self._decisions.get(id(decision))
        if found is None or found[0] is not decision:
            denied = not decision.allowed
            found = (
                decision,
                authorization_of(decision),
                f"rbac_access_denied_matched_policy[{decision.policy or 'none'}]"
                if denied
                else "via_upstream",
            )
            if len(self._decisions) >= _CACHE_LIMIT:
                self._decisions.clear()
            self._decisions[id(decision)] = found
        return found

    def _destination_principal(self) -> str:
        tls = self._mesh._state.tls
        if tls is None:
            return ""
        current = tls.current()
        cached = self._principal
        if cached[0] is current:
            return cached[1]
        uri = current.identity.uri
        self._principal = (current, uri)
        return uri

    def emit(
        self,
        scope: MutableMapping[str, Any],
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
        content_type: bytes | None = None,
    ) -> None:
        """Build the record and call the Mesh's hooks. ``server_name`` is the SNI the client
        asked for on a TLS connection (Envoy's ``%REQUESTED_SERVER_NAME%``);
        ``content_type`` the request's first ``content-type`` value (None: none).
        Positional or by keyword: the middleware passes them positionally (once a request,
        where keywords cost more than the rest of the call)."""
        end = time.perf_counter()
        mesh = self._mesh
        state = mesh._state
        local, cluster = self._server(scope.get("server") or _NO_ADDRESS)
        hooks = state.hooks
        hook = counting_hook(hooks, state.telemetry.server_metrics)
        key: tuple[Any, ...] = ()
        if hook is not None:
            # Only the standard metrics read the record: counted in its series, found by
            # what its labels derive from (MetricsHook.learn, as the outbound path does);
            # the record is built once per label set.
            key = (
                "destination",
                id(peer),
                id(source),
                mtls,
                status,
                grpc_status,
                content_type,
                cluster,
                self._destination_principal(),
                state.workload,
                id(mesh.labels),
            )
            if hook.count_by(key, end - start, request_bytes, response_bytes):
                return
        record = self._record(
            scope, peer, mtls, decision, status, response_bytes, start, end, source,
            request_bytes, grpc_status, content_type, local, cluster,
        )  # fmt: skip
        if hook is not None:  # a label set new to the standard metrics: learned
            hook.learn(key, (peer, source, mesh.labels), record)
            return
        if state.full_records:
            self._add_access_fields(record, scope, local, server_name)
        for each in hooks:
            each(record)

    @staticmethod
    def _add_access_fields(
        record: RequestRecord,
        scope: MutableMapping[str, Any],
        local: str,
        server_name: str | None,
    ) -> None:
        """What only access logs and Telemetry expressions read (more hooks than the
        standard metrics, or a Telemetry API policy that changes them), set when one may."""
        client = scope.get("client") or _NO_ADDRESS
        record.protocol = f"HTTP/{scope.get('http_version', '1.1')}"
        record.query = scope.get("query_string", b"").decode("latin-1")
        record.request_headers = AsgiHeaders(scope.get("headers") or ())
        record.downstream_local_address = local
        record.downstream_remote_address = f"{client[0]}:{client[1]}" if client[0] else ""
        record.requested_server_name = server_name or ""

    def _record(
        self,
        scope: MutableMapping[str, Any],
        peer: Peer | None,
        mtls: bool,
        decision: Decision | None,
        status: int,
        response_bytes: int,
        start: float,
        end: float,
        source: PeerMetadata | None,
        request_bytes: int,
        grpc_status: str,
        content_type: bytes | None,
        local: str,
        cluster: str,
    ) -> RequestRecord:
        """The record without the access-log fields."""
        mesh = self._mesh
        state = mesh._state
        if decision is None:
            authorization, details = "", "via_upstream"
        else:
            _, authorization, details = self._decision(decision)
        duration = end - start
        # Positional, in RequestRecord's field order (half the cost of keywords for 33
        # fields; tests/unit/inbound/test_record.py checks every field by name).
        record = RequestRecord(
            "",  # source_service
            # source_namespace: Istio takes the peer certificate's first, then its metadata
            (peer.namespace if peer is not None else "")
            or (source.namespace if source is not None else ""),
            "",  # source_version
            self._service,  # destination_service
            "",  # destination_subset
            local,  # destination_endpoint
            "default",  # route_name: Istio's name for every inbound route
            cluster,
            scope.get("method", "GET"),
            scope.get("path", ""),
            status,
            "-",  # response_flags
            1,  # attempts
            duration,
            time.time() - duration,  # start_time
            details,
            "",  # error
            "destination",  # reporter
            # request_protocol
            request_protocol(content_type.decode("latin-1"))
            if content_type is not None
            else "http",
            grpc_status,
            request_bytes,
            response_bytes,
            source.workload if source is not None else "",  # source_workload
            self._source_principal(peer) if peer is not None else "",  # source_principal
            source.labels if source is not None else _NONE,  # source_labels
            source.cluster if source is not None else "",  # source_cluster
            state.workload,  # destination_workload
            mesh.namespace,  # destination_namespace
            self._destination_principal(),
            mesh.labels,  # destination_labels
            "",  # destination_cluster
            authorization,
            "mutual_tls" if mtls else "none",  # connection_security_policy
        )
        record.telemetry = state.telemetry
        return record
