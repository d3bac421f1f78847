"""productpage: calls reviews through the mesh and reports who answered."""

from __future__ import annotations

import json
from typing import Any

import httpx

import inmesh

_client: httpx.AsyncClient | None = None


def client() -> httpx.AsyncClient:
    global _client
    if _client is None:
        _client = inmesh.current_mesh().client(timeout=5.0)
    return _client


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    headers = {k.decode(): v.decode() for k, v in scope["headers"] if k in (b"end-user",)}
    r = await client().get("http://reviews:9080/reviews/0", headers=headers)
    reviews = r.json() if r.status_code == 200 else {"error": r.status_code}
    body = json.dumps({"service": "productpage", "reviews": reviews}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})
