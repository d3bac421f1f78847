"""Real ports when a test needs them: a workload's app under uvicorn on 127.0.0.1.

Each replica gets an ephemeral port and a thread with its own event loop; requests run with
the workload's Mesh as ``inmesh.current_mesh()``, as in memory.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from typing import Any

from .._current import set_context_mesh


def _with_mesh(app: Any, mesh: Callable[[], Any]) -> Any:
    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        set_context_mesh(mesh())  # the request's own task context
        await app(scope, receive, send)

    return wrapped


class UvicornServer:
    """A uvicorn server running ``app`` in a daemon thread on 127.0.0.1."""

    def __init__(self, server: Any, thread: threading.Thread, port: int) -> None:
        self.server = server
        self.thread = thread
        self.port = port

    @classmethod
    def start(cls, app: Any, mesh: Callable[[], Any], **options: Any) -> UvicornServer:
        import uvicorn  # only under network="tcp"

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # h11 writes headers and body apart: without TCP_NODELAY, Nagle and delayed ACKs
        # add 40 ms to responses
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        settings: dict[str, Any] = {"log_level": "warning", "lifespan": "off", "access_log": False}
        config = uvicorn.Config(_with_mesh(app, mesh), **{**settings, **options})
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])),
            name=f"inmesh-testing-{port}",
            daemon=True,
        )
        thread.start()
        ready = threading.Event()
        for _ in range(200):
            if server.started:
                break
            ready.wait(0.02)
        if not server.started:
            server.should_exit = True
            raise RuntimeError(f"uvicorn on 127.0.0.1:{port} did not start")
        return cls(server, thread, port)

    def stop(self) -> None:
        """Stop now: requests still running (a test's slow app) are cancelled, not awaited."""
        self.server.should_exit = True
        self.server.force_exit = True
        self.thread.join(timeout=10)
