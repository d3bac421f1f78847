"""The inbound half of the mesh: one pure ASGI middleware around the application.

For every HTTP request (and websocket handshake) it:

1. strips the identity headers a client may send (``x-forwarded-client-cert``,
   ``x-inmesh-peer*``): the peer identity comes only from the verified certificate;
2. sets ``scope["inmesh.peer"]`` (:class:`~inmesh.inbound.Peer` or ``None`` for
   plaintext) from the mesh listener's connection (or the ASGI TLS extension of another
   server) and :func:`inmesh.current_peer` for the application;
3. evaluates the AuthorizationPolicies in force (compiled once per configuration revision)
   and answers a denied request 403 ``RBAC: access denied``, as Envoy's RBAC filter does;
   the decision goes in ``scope["inmesh.authz"]`` and the DEBUG log;
4. gives the request an ``x-request-id`` when the caller sent none (Envoy generates one
   for every request entering the mesh), exposes the workload's Mesh as
   ``scope["inmesh.mesh"]`` and counts requests in flight, so a draining workload can tell
   when it is idle.

Other scopes (lifespan) pass straight through; errors are never swallowed.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from .inbound._peer import CONNECTION_KEY, InboundConnection, Peer, _current_peer

if TYPE_CHECKING:
    from ._mesh import Mesh
    from .inbound._policy import InboundPolicy
    from .security import Decision

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("inmesh.inbound")

_REQUEST_ID = b"x-request-id"
_HOST = b"host"
#: Headers that claim an identity: Envoy sanitizes XFCC from untrusted clients
#: (forward_client_cert_details SANITIZE); inmesh never takes identity from a header.
_IDENTITY_HEADERS = frozenset({b"x-forwarded-client-cert"})
_IDENTITY_PREFIX = b"x-inmesh-peer"
_DENIED_BODY = b"RBAC: access denied"
_DENIED_HEADERS = [
    (b"content-type", b"text/plain"),
    (b"content-length", str(len(_DENIED_BODY)).encode()),
]
_PEM_PEERS: dict[str, Peer | None] = {}
_NO_ADDRESS = (None, None)


def _refused(reason: str) -> Decision:
    from .security import Decision

    return Decision(False, None, "DENY", reason=reason)


def _peer_from_extension(scope: Scope) -> Peer | None:
    """The peer of a server that fills asgiref's TLS extension itself."""
    tls = (scope.get("extensions") or {}).get("tls")
    chain = tls.get("client_cert_chain") if tls else None
    if not chain:
        return None
    pem = chain[0]
    if pem not in _PEM_PEERS:
        import ssl

        from .security import peer_identity

        identity = peer_identity(ssl.PEM_cert_to_DER_cert(pem))
        if len(_PEM_PEERS) >= 1024:
            _PEM_PEERS.clear()
        _PEM_PEERS[pem] = Peer.from_identity(identity) if identity is not None else None
    return _PEM_PEERS[pem]


class MeshMiddleware:
    """Wrap ``app`` as a mesh workload (``mesh`` is the workload's own Mesh, if any).

    ``policy`` gives the inbound configuration (default: the Mesh's, through
    :meth:`InboundPolicy.for_mesh`; without either, nothing is authorized or denied).
    """

    def __init__(
        self, app: ASGIApp, *, mesh: Mesh | None = None, policy: InboundPolicy | None = None
    ) -> None:
        self.app = app
        self.mesh = mesh
        if policy is None and mesh is not None:
            from .inbound._policy import InboundPolicy

            policy = InboundPolicy.for_mesh(mesh)
        self.policy = policy
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        raw = scope.get("headers") or ()
        has_id = False
        spoofed = False
        host: bytes | None = None
        for name, value in raw:
            if name == _HOST:
                host = value
            elif name.startswith(b"x-"):  # every header below starts with x-
                if name == _REQUEST_ID:
                    has_id = True
                elif name in _IDENTITY_HEADERS or name.startswith(_IDENTITY_PREFIX):
                    spoofed = True
        headers: list[tuple[bytes, bytes]]
        if spoofed:  # spoofed identity: dropped before anyone reads it
            headers = [
                item
                for item in raw
                if not (item[0] in _IDENTITY_HEADERS or item[0].startswith(_IDENTITY_PREFIX))
            ]
        else:
            headers = raw if type(raw) is list else list(raw)
        if not has_id and kind == "http":
            headers = [*headers, (_REQUEST_ID, str(uuid.uuid4()).encode())]
        connection: InboundConnection | None = scope.get(CONNECTION_KEY)
        peer = connection.peer if connection is not None else _peer_from_extension(scope)
        scope = {**scope, "headers": headers, "inmesh.peer": peer}
        if self.mesh is not None:
            scope["inmesh.mesh"] = self.mesh
        if self.policy is not None:
            authorizer = self.policy.current().authorizer
            if authorizer is not None:
                # The request as the workload's sidecar sees it: method, the request
                # target as sent (raw path and query), Host, ports, IPs, principal, SNI.
                target = scope.get("raw_path") or scope["path"].encode("utf-8")
                query = scope.get("query_string")
                if query:
                    target = target + b"?" + query
                server = scope.get("server") or _NO_ADDRESS
                client = scope.get("client") or _NO_ADDRESS
                try:
                    decision = authorizer.check_raw(
                        method=scope.get("method", "GET"),  # a websocket handshake is a GET
                        target=target,
                        host=host,
                        port=server[1],
                        headers=headers,
                        principal=peer.principal if peer is not None else None,
                        mtls=connection.mtls if connection is not None else peer is not None,
                        source_ip=client[0],
                        destination_ip=server[0],
                        sni=connection.sni if connection is not None else None,
                    )
                except ValueError as exc:  # e.g. a client address that is not an IP
                    decision = _refused(str(exc))
                scope["inmesh.authz"] = decision
                if log.isEnabledFor(logging.DEBUG):
                    log.debug(
                        "authz %s %s from %s: %s (%s)",
                        scope.get("method", "GET"),
                        scope.get("path"),
                        peer.principal if peer is not None else "plaintext",
                        "allowed" if decision.allowed else "denied",
                        decision.reason,
                    )
                if not decision.allowed:
                    await self._deny(kind, send)
                    self._record(scope, connection, peer, 403, len(_DENIED_BODY), start)
                    return
        recording = kind == "http" and self.mesh is not None and bool(self.mesh.hooks)
        seen = [500, 0, 0]  # status, response and request body bytes (raising: a 500)
        if recording:
            # the app's answer observed through ``send``, as Starlette's middleware does
            inner = send
            inner_receive = receive

            async def send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    seen[0] = message["status"]
                elif message["type"] == "http.response.body":
                    seen[1] += len(message.get("body", b""))
                await inner(message)

            async def receive() -> Message:
                message = await inner_receive()
                if message["type"] == "http.request":
                    seen[2] += len(message.get("body", b""))
                return message

        token = _current_peer.set(peer)
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            _current_peer.reset(token)
            if recording:
                self._record(scope, connection, peer, seen[0], seen[1], start, seen[2])

    def _record(
        self,
        scope: Scope,
        connection: InboundConnection | None,
        peer: Peer | None,
        status: int,
        response_bytes: int,
        start: float,
        request_bytes: int = 0,
    ) -> None:
        """One destination-side record for the Mesh's hooks (HTTP only)."""
        mesh = self.mesh
        if mesh is None or not mesh.hooks or scope["type"] != "http":
            return
        from .inbound._record import emit_inbound

        emit_inbound(
            mesh,
            scope,
            peer=peer,
            # Istio: mutual_tls whenever the connection is mTLS, whatever the certificate
            mtls=connection.mtls if connection is not None else peer is not None,
            decision=scope.get("inmesh.authz"),
            status=status,
            response_bytes=response_bytes,
            start=start,
            request_bytes=request_bytes,
            server_name=connection.sni if connection is not None else None,
        )

    @staticmethod
    async def _deny(kind: str, send: Send) -> None:
        if kind == "websocket":
            # Closing before accepting: the server answers the handshake with 403.
            await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "http.response.start", "status": 403, "headers": _DENIED_HEADERS})
        await send({"type": "http.response.body", "body": _DENIED_BODY})
