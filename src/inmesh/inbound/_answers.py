"""``MeshMiddleware``'s answers other than the application's: a request the policies deny,
and the workload's metadata exchange pair added to an answer where the listener cannot
write it itself. Off the per-request path: an allowed request behind the mesh listener
runs none of this."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from ..telemetry._spans import end_server_span

if TYPE_CHECKING:
    from .._middleware import MeshMiddleware
    from ..security import Decision
    from ..telemetry._exchange import PeerMetadata
    from ._peer import Peer

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("inmesh.inbound")

DENIED_BODY = b"RBAC: access denied"
DENIED_HEADERS = [
    (b"content-type", b"text/plain"),
    (b"content-length", str(len(DENIED_BODY)).encode()),
]


def refused(reason: str) -> Decision:
    """A denial the evaluator could not reach a decision for (e.g. a client address that
    is not an IP)."""
    from ..security import Decision

    return Decision(False, None, "DENY", reason=reason)


def log_decision(scope: Scope, peer: Peer | None, decision: Decision) -> None:
    """The decision in the DEBUG log, when it is on."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    log.debug(
        "authz %s %s from %s: %s (%s)",
        scope.get("method", "GET"),
        scope.get("path"),
        peer.principal if peer is not None else "plaintext",
        "allowed" if decision.allowed else "denied",
        decision.reason,
    )


async def denied(
    middleware: MeshMiddleware,
    scope: Scope,
    send: Send,
    answer: tuple[tuple[bytes, bytes], ...],
    span: Any,
    decision: Decision,
    peer: Peer | None,
    mtls: bool,
    start: float,
    source: PeerMetadata | None,
    sni: str | None,
    content_type: bytes | None,
) -> None:
    """Answer a request the policies deny (Envoy's RBAC filter: 403 ``RBAC: access
    denied``; a websocket handshake closed before it is accepted), end its span and
    record it."""
    kind = scope["type"]
    await deny(kind, send, answer)
    if span is not None:
        end_server_span(span, 403, decision)
    mesh = middleware.mesh
    if kind == "http" and mesh is not None and mesh._state.hooks:
        middleware._recorder().emit(
            scope,
            peer=peer,
            mtls=mtls,
            decision=decision,
            status=403,
            response_bytes=len(DENIED_BODY),
            start=start,
            source=source,
            server_name=sni,
            content_type=content_type,
        )


async def deny(kind: str, send: Send, answer: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """The denial itself: 403 ``RBAC: access denied`` (with the exchange pair when the
    caller sent its own), or a websocket handshake closed (the server answers it 403)."""
    if kind == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    headers = [*DENIED_HEADERS, *answer] if answer else DENIED_HEADERS
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": DENIED_BODY})


def answering(send: Send, answer: tuple[tuple[bytes, bytes], ...]) -> Send:
    """``send`` with ``answer`` (the workload's exchange pair) after the answer's headers,
    where the listener cannot write it itself (another server, or a ``send`` wrapped
    between the listener and the middleware)."""

    async def answering(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), *answer]}
        await send(message)

    return answering
