"""The server side of ``rotation.py``: a tiny ASGI app run by ``inmesh serve``.

Each answer says who called (``scope["inmesh.peer"]``, set by ``MeshMiddleware`` from the
verified client certificate; ``null`` over plaintext) and which certificate this process
holds right now (``inmesh.current_mesh().tls``: its generation and validity), so that the
benchmark can check every request was mutual TLS and count the server's rotations.
"""

from __future__ import annotations

import json
from typing import Any

import inmesh

HEADERS = [(b"content-type", b"application/json")]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    peer = scope.get("inmesh.peer")
    holder = inmesh.current_mesh().tls
    current = holder.current() if holder is not None else None
    body = {
        "peer": peer.principal if peer is not None else None,
        "generation": holder.generation if holder is not None else None,
        "identity": current.identity.principal if current is not None else None,
        "not_before": current.not_before if current is not None else None,
        "not_after": current.not_after if current is not None else None,
    }
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})
