"""An ASGI app for `inmesh serve` tests: answers with the serving process's pid and the
caller's mesh identity."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = json.dumps(
        {
            "pid": os.getpid(),
            "request_id": dict(scope["headers"]).get(b"x-request-id", b"").decode(),
            # the caller's identity, from its verified certificate (None: plaintext)
            "peer": getattr(scope.get("inmesh.peer"), "principal", None),
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    yield


#: The same with a lifespan (uvicorn reports a lifespan cancelled by a failed start).
with_lifespan = Starlette(routes=[Mount("/", app=app)], lifespan=_lifespan)
