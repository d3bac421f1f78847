"""A loopback benchmark server: one uvicorn process listening on several 127.0.0.1 ports.

Run as ``python benchmarks/_server.py N``: prints the N ports on one line, then serves until
stdin closes. Kept out of the measuring process so its CPU is not counted as the client's.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
from typing import Any

import uvicorn

BODY = b'{"ok": true}'


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited when accepted
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks), flush=True)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="error", access_log=False, lifespan="off")
    )

    def watch_stdin() -> None:
        sys.stdin.read()
        server.should_exit = True

    threading.Thread(target=watch_stdin, daemon=True).start()
    asyncio.run(server.serve(sockets=socks))


if __name__ == "__main__":
    main()
