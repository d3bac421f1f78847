"""Real ports when a test needs them: a workload's app under uvicorn on 127.0.0.1.

Each replica gets an ephemeral port (bound first, so the configuration can name it) and a
thread with its own event loop, and is served as ``inmesh serve`` serves it: the mesh
listener and ``MeshMiddleware``, lifespan ``auto``, the workload's Mesh as
``inmesh.current_mesh()``.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

from .._current import set_context_mesh


def _with_mesh(app: Any, mesh: Any, inbound: bool) -> Any:
    """``app`` run with the workload's Mesh as ``current_mesh()``; with ``inbound``, behind
    ``MeshMiddleware`` (which passes lifespan events straight through)."""
    served = app
    if inbound:
        from .._middleware import MeshMiddleware

        served = MeshMiddleware(app, mesh=mesh)

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        set_context_mesh(mesh)  # the request's own task context
        await served(scope, receive, send)

    return wrapped


class UvicornServer:
    """A 127.0.0.1 port for one replica; ``start`` serves ``app`` on it under uvicorn in a
    daemon thread."""

    def __init__(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # h11 writes headers and body apart: without TCP_NODELAY, Nagle and delayed ACKs
        # add 40 ms to responses
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", 0))
        self.sock = sock
        self.port: int = sock.getsockname()[1]
        self.server: Any = None
        self.thread: threading.Thread | None = None

    def start(self, app: Any, mesh: Any, *, mesh_listener: bool = True, **options: Any) -> None:
        """Serve ``app`` with ``mesh``; with ``mesh_listener``, as ``inmesh serve`` does (the
        mesh listener: PeerAuthentication, mTLS with the workload certificate)."""
        import uvicorn  # only under network="tcp"

        # lifespan "auto": startup runs before the server accepts (uvicorn's default)
        settings: dict[str, Any] = {"log_level": "warning", "lifespan": "auto", "access_log": False}
        if mesh_listener:
            from ..inbound import InboundPolicy, protocol_class

            policy = InboundPolicy.for_mesh(mesh)
            settings["http"] = protocol_class(tls=lambda: mesh.tls, policy=policy)
            settings["proxy_headers"] = False
        config = uvicorn.Config(_with_mesh(app, mesh, mesh_listener), **{**settings, **options})
        server = self.server = uvicorn.Server(config)
        sock = self.sock
        self.thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])),
            name=f"inmesh-testing-{self.port}",
            daemon=True,
        )
        self.thread.start()
        ready = threading.Event()
        for _ in range(500):
            if server.started or not self.thread.is_alive():
                break
            ready.wait(0.01)
        if not server.started:
            server.should_exit = True
            raise RuntimeError(f"uvicorn on 127.0.0.1:{self.port} did not start")

    def stop(self) -> None:
        """Stop: the lifespan shuts down, as under uvicorn; but requests still running (a
        test's slow app) are cancelled, not awaited (then the lifespan is not shut down:
        uvicorn's forced exit)."""
        if self.server is None:
            self.sock.close()
            return
        self.server.should_exit = True
        waiting = threading.Event()
        for _ in range(50):  # requests finishing their last bytes: 0.5 s at most
            if not self.server.server_state.tasks:
                break
            waiting.wait(0.01)
        else:
            self.server.force_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)
