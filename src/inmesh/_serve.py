"""``inmesh serve module:app``: run an ASGI application under uvicorn as a mesh workload.

It binds the port (0: an ephemeral one), registers with the port actually bound,
heartbeats, wraps the app in ``MeshMiddleware`` (the app finds its Mesh, for outbound
calls, with ``inmesh.current_mesh()`` or in ``scope["inmesh.mesh"]``), and on SIGTERM or
SIGINT drains: deregister first, keep serving for the drain period while clients get the
change, then let uvicorn finish the requests in flight, and exit 0.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.importer import ImportFromStringError, import_from_string

from ._current import set_current_mesh
from ._errors import InmeshError
from ._mesh import Mesh
from ._middleware import MeshMiddleware
from ._workload import Workload


class _DrainingServer(uvicorn.Server):
    """uvicorn, except that the first SIGTERM/SIGINT starts a drain instead of an exit."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.drain_requested = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._loop is not None and not self.drain_requested.is_set():
            # Runs in the signal handler: wake the loop through its self-pipe.
            self._loop.call_soon_threadsafe(self.drain_requested.set)
        else:
            self.should_exit = True  # a second signal: stop now (uvicorn's own behaviour)


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted sockets
    sock.bind((host, port))
    return sock


async def _run(
    app: Any,
    *,
    service: str,
    version: str | None,
    namespace: str,
    host: str,
    port: int,
    registry: str,
    token: str | None,
    config: Sequence[str],
    drain: float,
    cache_file: str | None,
    ttl: float,
) -> int:
    labels = {"app": service, **({"version": version} if version else {})}
    mesh = Mesh(
        service=service,
        namespace=namespace,
        labels=labels,
        config=list(config) or None,
        registry=registry,
        token=token,
        cache_file=cache_file,
    )
    set_current_mesh(mesh)
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    server = _DrainingServer(
        uvicorn.Config(
            MeshMiddleware(app, mesh=mesh), log_level="warning", access_log=False, lifespan="auto"
        )
    )
    server._loop = asyncio.get_running_loop()
    async with mesh:
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not serving.done():
            await asyncio.sleep(0.01)
        if serving.done():
            return 1
        async with Workload(
            service=service,
            version=version,
            namespace=namespace,
            address=host,
            port=bound,
            registry=registry,
            token=token,
            drain=drain,
            ttl=ttl,
        ):
            print(
                f"inmesh serve: {service} {version or ''} on {host}:{bound} (pid {os.getpid()})",
                flush=True,
            )
            stop = asyncio.create_task(server.drain_requested.wait())
            await asyncio.wait({serving, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
        # deregistered and drained: now stop accepting and finish what is in flight
        server.should_exit = True
        await serving
    print(f"inmesh serve: {service} {version or ''} drained and stopped", flush=True)
    return 0


def serve(
    app_ref: str,
    *,
    service: str,
    version: str | None = None,
    namespace: str = "default",
    host: str = "127.0.0.1",
    port: int = 0,
    registry: str | None = None,
    token: str | None = None,
    config: Sequence[str] = (),
    drain: float = 2.0,
    cache_file: str | None = None,
    ttl: float = 10.0,
) -> int:
    """Run ``app_ref`` (``module:attribute``) as a workload of ``service`` until signalled."""
    sys.path.insert(0, os.getcwd())
    try:
        app: Any = import_from_string(app_ref)
    except (ImportFromStringError, ImportError) as exc:
        raise InmeshError(f"cannot load the application {app_ref!r}: {exc}") from None
    registry = registry or os.environ.get("INMESH_REGISTRY") or "http://127.0.0.1:15010"
    token = token or os.environ.get("INMESH_TOKEN") or _local_admin_token()
    return asyncio.run(
        _run(
            app,
            service=service,
            version=version,
            namespace=namespace,
            host=host,
            port=port,
            registry=registry,
            token=token,
            config=config,
            drain=drain,
            cache_file=cache_file,
            ttl=ttl,
        )
    )


def _local_admin_token() -> str | None:
    """For local use, the admin token the registry wrote in its data directory."""
    from .registry._data import default_data_dir, read_admin_token

    return read_admin_token(default_data_dir())


__all__ = ["serve"]
