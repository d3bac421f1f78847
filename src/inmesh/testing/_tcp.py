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


def _with_mesh(app: Any, mesh: Callable[[], Any], inbound: bool) -> Any:
    """``app`` run with the workload's Mesh as ``current_mesh()``; with ``inbound``, behind
    ``MeshMiddleware`` as ``inmesh serve`` runs it (made at the first request: the Mesh
    exists only once every replica has its port)."""
    made: list[Any] = []

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        m = mesh()
        set_context_mesh(m)  # the request's own task context
        if not inbound:
            await app(scope, receive, send)
            return
        if not made:
            from .._middleware import MeshMiddleware

            made.append(MeshMiddleware(app, mesh=m))
        await made[0](scope, receive, send)

    return wrapped


class UvicornServer:
    """A uvicorn server running ``app`` in a daemon thread on 127.0.0.1."""

    def __init__(self, server: Any, thread: threading.Thread, port: int) -> None:
        self.server = server
        self.thread = thread
        self.port = port

    @classmethod
    def start(
        cls, app: Any, mesh: Callable[[], Any], *, mesh_listener: bool = True, **options: Any
    ) -> UvicornServer:
        """Serve ``app``; with ``mesh_listener``, as ``inmesh serve`` does: the mesh listener
        (PeerAuthentication, mTLS with the workload certificate) and ``MeshMiddleware``."""
        import uvicorn  # only under network="tcp"

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # h11 writes headers and body apart: without TCP_NODELAY, Nagle and delayed ACKs
        # add 40 ms to responses
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        settings: dict[str, Any] = {"log_level": "warning", "lifespan": "off", "access_log": False}
        asgi = _with_mesh(app, mesh, mesh_listener)
        if mesh_listener:
            from ..inbound import InboundPolicy, protocol_class

            settings["http"] = protocol_class(
                tls=lambda: getattr(mesh(), "tls", None),
                policy=lambda: InboundPolicy.for_mesh(mesh()) if mesh() is not None else None,
            )
            settings["proxy_headers"] = False
        config = uvicorn.Config(asgi, **{**settings, **options})
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
