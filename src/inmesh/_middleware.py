"""The inbound half of the mesh: one pure ASGI middleware around the application.

For every HTTP request (and websocket handshake) it:

1. strips the identity headers a client may send (``x-inmesh-peer*``; and
   ``x-forwarded-client-cert`` unless the connection is mutual TLS, where this hop's
   element is appended as Istio's sidecar does: ``inbound/_xfcc.py``): the peer identity
   comes only from the verified certificate;
2. sets ``scope["inmesh.peer"]`` (:class:`~inmesh.inbound.Peer` or ``None`` for
   plaintext) from the mesh listener's connection (or the ASGI TLS extension of another
   server) and :func:`inmesh.current_peer` for the application;
3. evaluates the AuthorizationPolicies in force (compiled once per configuration revision)
   and answers a denied request 403 ``RBAC: access denied``, as Envoy's RBAC filter does;
   the decision goes in ``scope["inmesh.authz"]`` and the DEBUG log;
4. gives the request an ``x-request-id`` when the caller sent none (Envoy generates one
   for every request entering the mesh), exposes the workload's Mesh as
   ``scope["inmesh.mesh"]`` and counts requests in flight, so a draining workload can tell
   when it is idle;
5. takes Istio's metadata exchange headers (``x-envoy-peer-metadata[-id]``; ambient's
   ``baggage`` keys are read and the header left alone) for the record's ``source_*``
   labels, strips them before the app sees the request, and answers a caller that sent
   them with this workload's own (labels are claims; identities come from certificates).
6. keeps the request's ``x-request-id`` and trace headers in a contextvar, which the
   outbound transport reads: requests the application makes while handling this one
   continue its trace with no code in the application; when the Mesh traces, it also
   starts the server span (``telemetry/_spans.py``).

Other scopes (lifespan) pass straight through; errors are never swallowed.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from .inbound._answers import answering, denied, log_decision, refused
from .inbound._peer import ANSWER_KEY, CONNECTION_KEY, InboundConnection, peer_from_extension
from .inbound._scan import (
    _AMBIENT_KEY,
    _BAGGAGE_,
    _CARRY,
    _DROP,
    _DROP_EXCHANGE,
    _FORWARDED,
    _HOST_,
    _ID,
    _KEEP,
    _METADATA,
    _METADATA_ID,
    _NAMES,
    _REQUEST_ID,
    _TRACEPARENT,
    _TRACESTATE,
    _XFCC,
    _classify,
)
from .routing._hosts import to_fqdn
from .telemetry._exchange import peer_from_headers
from .telemetry._propagation import (
    InboundContext,
    TraceContext,
    _inbound,
    parse_headers,
    parse_traceparent,
)
from .telemetry._spans import end_server_span, start_sampled_server_span

if TYPE_CHECKING:
    from ._mesh import Mesh
    from .inbound._policy import InboundPolicy
    from .inbound._record import InboundRecorder
    from .security import Decision
    from .telemetry._exchange import PeerMetadata

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("inmesh.inbound")
#: ``log.isEnabledFor``'s own cache (level -> enabled), which logging clears whenever a
#: level changes: a request reads it instead of calling the method (False: not enabled;
#: a logging without that cache gives an empty dict here, and the method is always asked)
_LOG_CACHE: dict[int, bool] = getattr(log, "_cache", {})
_DEBUG = logging.DEBUG

_GRPC = b"grpc-status"
_NO_ADDRESS = (None, None)


def _pair_item(pair: tuple[tuple[bytes, bytes], ...]) -> Any:
    """The listener's rendering of the workload's exchange pair (None: it cannot write it
    itself; the pair then goes in the answer's message)."""
    from .inbound._h11 import pair_item

    return pair_item(pair)


def _new_request_id() -> bytes:
    """A new ``x-request-id`` (Envoy's: a UUID4)."""
    return str(uuid.uuid4()).encode()


def _grpc_status(headers: Any, current: str) -> str:
    """The first ``grpc-status`` among ``headers`` (Istio's ``grpc_response_status``), else
    ``current`` (``header_value``'s rule, inlined: it runs on every response)."""
    for name, value in headers or ():
        if name == _GRPC or (len(name) == 11 and name.lower() == _GRPC):
            return value.decode("latin-1")  # type: ignore[no-any-return]
    return current


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
        #: the server span's host (Istio's trace operation names the service's FQDN)
        self._host = to_fqdn(mesh.service, mesh.namespace) if mesh is not None else ""
        self._records: InboundRecorder | None = None
        #: the workload's exchange pair and its rendering for the listener (_h11.pair_item)
        self._pair: tuple[object, Any] = (None, None)
        #: the last x-envoy-peer-metadata value read and its decoding (peer_from_headers'
        #: result for it: a pure function of the bytes)
        self._last_metadata: tuple[bytes | None, PeerMetadata | None] = (None, None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        raw = scope.get("headers") or ()
        connection: InboundConnection | None = scope.get(CONNECTION_KEY)
        details = connection.client_cert_details if connection is not None else b""
        request_id: bytes | None = None
        host: bytes | None = None
        content_type: bytes | None = None
        metadata: bytes | None = None
        baggage: bytes | None = None
        traceparent: bytes | None = None
        simple_trace = True  # one traceparent, no tracestate: parse_traceparent alone
        dropped = False  # an identity or exchange header (kept: every other one, in order)
        exchanged = False
        forwarded: list[bytes] = []  # the XFCC values the client sent
        carried: list[tuple[bytes, bytes]] = []  # trace headers for outbound requests
        kept: list[tuple[bytes, bytes]] = []
        # one pass, one dict lookup per header (_NAMES: _SCAN's names, then every other
        # name as _classify found it)
        for item in raw:
            what = _NAMES.get(item[0])
            if what is _KEEP:
                kept.append(item)
                continue
            if what is None:
                what = _classify(item[0])
                if what is _KEEP:
                    kept.append(item)
                    continue
            # the names a mesh peer sends on every request first (host, x-request-id, the
            # exchange pair, traceparent): each branch below is one more test for the rest
            if what is _HOST_:
                host = item[1]
            elif what is _ID:
                request_id = item[1]
            elif what is _METADATA:  # Istio's metadata exchange: the mesh's, not the app's
                metadata = item[1]
                dropped = exchanged = True
                continue
            elif what is _METADATA_ID:
                dropped = exchanged = True
                continue
            elif what is _TRACEPARENT:
                carried.append(item)
                if traceparent is None:
                    traceparent = item[1]
                else:
                    simple_trace = False  # repeated: parse_headers' rules
            elif what is _CARRY:
                carried.append(item)
            elif what is _TRACESTATE:
                carried.append(item)
                simple_trace = False
            elif what is _BAGGAGE_:
                carried.append(item)
                if _AMBIENT_KEY in item[1]:
                    baggage = item[1]
            elif what is _FORWARDED:  # claimed identity dropped before anyone reads it
                forwarded.append(item[1])
                dropped = True
                continue
            elif what is _DROP:
                dropped = True
                continue
            elif what is _DROP_EXCHANGE:
                dropped = exchanged = True
                continue
            elif content_type is None:  # content-type: the first one, as Envoy reads it
                content_type = item[1]
            kept.append(item)
        headers: list[tuple[bytes, bytes]]
        if dropped or details:
            # the exchange headers are the mesh's, not the app's (Istio's sidecar removes
            # them too)
            headers = kept
            if details:  # mutual TLS: what the client forwarded, then this hop's element
                headers.append((_XFCC, b",".join([*forwarded, details]) if forwarded else details))
        else:
            headers = raw if type(raw) is list else list(raw)
        if request_id is None and kind == "http":
            request_id = _new_request_id()
            headers = [*headers, (_REQUEST_ID, request_id)]
        if connection is not None:
            peer, mtls, sni = connection.peer, connection.mtls, connection.sni
        else:  # another server's TLS extension: mutual TLS when it gave a client certificate
            peer = peer_from_extension(scope)
            mtls, sni = peer is not None, None
        if metadata is not None and baggage is None and metadata == self._last_metadata[0]:
            # the same caller as the last request (a connection sends the same value): its
            # metadata as decoded then (peer_from_headers would hash the ~500 bytes again)
            source = self._last_metadata[1]
        elif exchanged or baggage:
            source = peer_from_headers(metadata, baggage)
            if metadata is not None:
                self._last_metadata = (metadata, source)
        else:
            source = None
        mesh = self.mesh
        # a caller that sent its metadata gets this workload's in the response (Istio's
        # peer_metadata filter); nobody else does, so nothing leaks outside the mesh
        answer: tuple[tuple[bytes, bytes], ...] = ()
        answer_to: Any = None  # the listener's connection, which writes the pair itself
        pair: Any = None
        if metadata is not None and mesh is not None and kind == "http":
            answer = mesh._state.exchange
            if answer:
                answer_to = scope.get(ANSWER_KEY)
                if answer_to is not None and answer_to.inmesh_send is send:
                    # nothing between the listener and here changes the answer: it writes
                    # the pair rendered once per workload after the app's headers
                    cached = self._pair
                    if cached[0] is not answer:
                        cached = self._pair = (answer, _pair_item(answer))
                    pair = cached[1]
                if pair is None:
                    answer_to = None
        scope = {**scope, "headers": headers, "inmesh.peer": peer}
        if mesh is not None:
            scope["inmesh.mesh"] = mesh
        # what outbound requests made while handling this one continue (in-process
        # propagation, docs/observability.md); the server span when the mesh traces
        inbound = InboundContext(request_id, carried, None, peer)  # current_peer() too
        tracer = mesh._state.tracing if mesh is not None else None
        span = None
        if tracer is not None and kind == "http":
            # the caller's context (W3C first, then B3: parse_headers' order; its one
            # traceparent parsed alone when that is all there is to read), then the decision
            parent: TraceContext | None = None
            if traceparent is not None and simple_trace:
                parent = parse_traceparent(traceparent)
            if parent is None and carried:
                parent = parse_headers(carried)
            if tracer.decide(parent):
                span = start_sampled_server_span(
                    tracer, scope, inbound, parent, service_host=self._host
                )
            else:
                inbound.continue_unsampled(parent)  # made when an outbound request reads it
        decision: Decision | None = None
        if self.policy is not None:
            authorizer = self.policy.current().authorizer
            if authorizer is not None:
                # The request as the workload's sidecar sees it: method, the path as sent
                # (ASGI's raw_path, without the query, which the policies' path drops
                # too: normalize_path), Host, ports, IPs, principal, SNI.
                target = scope.get("raw_path") or scope["path"].encode("utf-8")
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
                        mtls=mtls,
                        source_ip=client[0],
                        destination_ip=server[0],
                        sni=sni,
                    )
                except ValueError as exc:  # e.g. a client address that is not an IP
                    decision = refused(str(exc))
                scope["inmesh.authz"] = decision
                if _LOG_CACHE.get(_DEBUG) is not False:  # maybe on: log_decision asks
                    log_decision(scope, peer, decision)
                if not decision.allowed:
                    await denied(
                        self, scope, send, answer, span, decision, peer, mtls, start, source,
                        sni, content_type,
                    )  # fmt: skip
                    return
        hooked = kind == "http" and mesh is not None and bool(mesh._state.hooks)
        recording = span is not None or hooked
        status = 500  # raising: a 500
        sent = 0  # response body bytes
        received = 0  # request body bytes
        grpc = ""  # the response's grpc-status (headers of a trailers-only answer, trailers)
        listener_send = send
        if pair is not None:
            answer_to.inmesh_pair = pair  # written with the answer's head (inbound/_h11.py)
            answer = ()
        if answer:  # not written by the listener: in the answer's message
            send = answering(send, answer)
        if recording:
            # the app's answer observed through ``send``, as Starlette's middleware does
            inner = send
            inner_receive = receive

            async def send(message: Message) -> None:
                nonlocal status, sent, grpc
                kind = message["type"]
                if kind == "http.response.body":
                    sent += len(message.get("body", b""))
                elif kind == "http.response.start":
                    status = message["status"]
                    grpc = _grpc_status(message.get("headers"), grpc)
                elif kind == "http.response.trailers":  # gRPC's status, after the body
                    grpc = _grpc_status(message.get("headers"), grpc)
                await inner(message)

            async def receive() -> Message:
                nonlocal received
                message = await inner_receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                return message

        carrying = _inbound.set(inbound)
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            _inbound.reset(carrying)
            if pair is not None and answer_to.inmesh_send is listener_send:
                # no answer written (the app raised first): uvicorn's 500 carries no pair;
                # a later request's own (a keep-alive connection) is left alone
                answer_to.inmesh_pair = None
            if span is not None:
                end_server_span(span, status, decision)
            if hooked and mesh is not None and mesh._state.hooks:
                (self._records or self._recorder()).emit(
                    scope,
                    peer,
                    # Istio: mutual_tls whenever the connection is mTLS, whatever the
                    # certificate
                    mtls,
                    decision,
                    status,
                    sent,
                    start,
                    source,
                    received,
                    sni,
                    grpc,
                    content_type,
                )

    def _recorder(self) -> InboundRecorder:
        """The destination-side record builder of this middleware's Mesh, made once."""
        recorder = self._records
        if recorder is None:
            from .inbound._record import InboundRecorder

            assert self.mesh is not None
            recorder = self._records = InboundRecorder(self.mesh)
        return recorder
