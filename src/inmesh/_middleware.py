"""The inbound half of the mesh: one pure ASGI middleware around the application.

It gives every HTTP request an ``x-request-id`` when the caller sent none (Envoy generates
one for every request entering the mesh), exposes the workload's Mesh to the application
as ``scope["inmesh.mesh"]``, and counts requests in flight, so a draining workload can
tell when it is idle. Non-HTTP scopes pass straight through; errors are never swallowed.
Identity from the peer certificate and authorization come with the security layer.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._mesh import Mesh

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_REQUEST_ID = b"x-request-id"


class MeshMiddleware:
    """Wrap ``app`` as a mesh workload (``mesh`` is the workload's own Mesh, if any)."""

    def __init__(self, app: ASGIApp, *, mesh: Mesh | None = None) -> None:
        self.app = app
        self.mesh = mesh
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or ())
        if not any(k == _REQUEST_ID for k, _ in headers):
            headers.append((_REQUEST_ID, str(uuid.uuid4()).encode()))
            scope = {**scope, "headers": headers}
        if self.mesh is not None:
            scope = {**scope, "inmesh.mesh": self.mesh}
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
