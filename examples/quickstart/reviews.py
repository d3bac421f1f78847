"""Two versions of a tiny reviews service: ``reviews:v1`` and ``reviews:v2``."""

from __future__ import annotations

import json
from typing import Any


def version(name: str) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = json.dumps({"version": name}).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


v1 = version("v1")
v2 = version("v2")
