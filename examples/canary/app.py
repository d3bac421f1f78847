"""A tiny service for the canary demo: answers with the version it was started as."""

from __future__ import annotations

import json
import os
from typing import Any

VERSION = os.environ.get("VERSION", "v1")
SERVICE = os.environ.get("SERVICE", "reviews")


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = json.dumps({"service": SERVICE, "version": VERSION, "path": scope["path"]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})
