"""reviews: v1 shows no stars; v2 and v3 ask ratings for them (through the mesh)."""

from __future__ import annotations

import json
import os
from typing import Any

import httpx

import inmesh

VERSION = os.environ.get("VERSION", "v1")
_client: httpx.AsyncClient | None = None


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global _client
    if scope["type"] != "http":
        return
    out: dict[str, Any] = {"service": "reviews", "version": VERSION}
    if VERSION != "v1":
        if _client is None:
            _client = inmesh.current_mesh().client(timeout=5.0)
        r = await _client.get("http://ratings:9080/ratings/0")
        out["stars"] = r.json().get("stars") if r.status_code == 200 else None
        out["color"] = "black" if VERSION == "v2" else "red"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(out).encode()})
