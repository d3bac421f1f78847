"""``inmesh serve module:app``: run an ASGI application under uvicorn as a mesh workload.

It binds the port (0: an ephemeral one), registers with the port actually bound,
heartbeats, wraps the app in ``MeshMiddleware`` (the app finds its Mesh, for outbound
calls, with ``inmesh.current_mesh()`` or in ``scope["inmesh.mesh"]``; the caller with
``inmesh.current_peer()``), serves through the mesh listener (PeerAuthentication per
connection, mTLS with the workload certificate: ``inmesh.inbound.MeshProtocol``), and on SIGTERM or
SIGINT drains: deregister first, keep serving for the drain period while clients get the
change, then let uvicorn finish the requests in flight, and exit 0. The drain is
``Workload``'s, the same an application gets in its own lifespan under plain uvicorn.
Every option is checked before anything starts (``_serve_options``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.importer import ImportFromStringError, import_from_string

from ._current import set_current_mesh
from ._errors import InmeshError
from ._mesh import Mesh
from ._middleware import MeshMiddleware
from ._serve_options import ServeOptions
from ._signals import HANDLED_SIGNALS
from ._workload import Workload
from .inbound._policy import InboundPolicy
from .inbound._protocol import protocol_class
from .routing import TLS_MODE_ISTIO, TLS_MODE_LABEL

#: The exit status for options that fail their checks (argparse's, for usage errors).
USAGE_ERROR = 2


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited when accepted
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InmeshError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


@contextmanager
def _signals_noted() -> Iterator[list[int]]:
    """While ``inmesh serve`` runs, SIGTERM/SIGINT outside uvicorn's own handling are only
    noted: before uvicorn starts (``_run`` raises them again once the workload can drain),
    and after it stops (uvicorn raises the signal it handled again, so that a plain process
    dies of it; ``inmesh serve`` has drained on purpose and exits 0)."""
    received: list[int] = []

    def note(sig: int, frame: FrameType | None) -> None:
        received.append(sig)

    previous = {sig: signal.signal(sig, note) for sig in HANDLED_SIGNALS}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


async def _run(
    app: Any,
    sock: socket.socket,
    options: ServeOptions,
    *,
    token: str,
    config: Sequence[str],
    cache_file: str | None,
    early_signals: list[int],
) -> int:
    service, version = options.service, options.version
    name = f"{service} {version}" if version else service
    mesh = Mesh(
        service=service,
        namespace=options.namespace,
        labels={"app": service, **({"version": version} if version else {})},
        config=list(config) or None,
        registry=options.registry,
        token=token,
        cache_file=cache_file,
        service_account=options.service_account,
        access_log=False if options.access_log == "off" else options.access_log,  # type: ignore[arg-type]
    )
    _access_log_to_stdout()
    set_current_mesh(mesh)
    # Istio's standard metrics (the Mesh records them by default, into the process's
    # registry), served in Prometheus format on an admin listener of its own (Envoy's
    # prometheus port), as a sidecar exposes them
    from .telemetry import ADMIN_PORT_NAME, start_admin_server

    admin = start_admin_server(options.host, options.admin_port)
    bound = sock.getsockname()[1]
    policy = InboundPolicy.for_mesh(mesh)
    server = uvicorn.Server(
        uvicorn.Config(
            MeshMiddleware(app, mesh=mesh, policy=policy),
            # the mesh listener: PeerAuthentication per connection, mTLS with the
            # workload certificate (``mesh.tls``, rotated in place) when it has one
            http=protocol_class(tls=lambda: getattr(mesh, "tls", None), policy=policy),
            # source.ip is the direct peer (Istio): no X-Forwarded-For rewrites the client
            proxy_headers=False,
            log_level="warning",
            access_log=False,
            lifespan="auto",
        )
    )
    try:
        async with mesh:
            if early_signals:
                return 0  # stopped before it started: nothing to drain
            serving = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started and not serving.done():
                await asyncio.sleep(0.01)
            if serving.done():
                await serving
                return 1
            try:
                # The same drain as an application's own lifespan gets: the first signal
                # deregisters and waits the drain period while uvicorn still accepts, and only
                # then reaches uvicorn, which stops accepting and finishes what is in flight.
                async with Workload(
                    service=service,
                    version=version,
                    namespace=options.namespace,
                    address=options.host,
                    port=bound,
                    registry=options.registry,
                    token=token,
                    drain=options.drain,
                    ttl=options.ttl,
                    service_account=mesh.service_account,
                    # Istio's auto mTLS: clients with a certificate send mTLS to endpoints with
                    # this label, and this listener serves mTLS with the workload certificate
                    labels={TLS_MODE_LABEL: TLS_MODE_ISTIO} if mesh.tls is not None else None,
                    # Istio's name for the sidecar's metrics port: the registry's Prometheus
                    # service discovery lists it
                    extra_ports={ADMIN_PORT_NAME: admin.port},
                ):
                    print(
                        f"inmesh serve: {name} on {options.host}:{bound} (pid {os.getpid()}), "
                        f"metrics at {admin.url}",
                        flush=True,
                    )
                    if early_signals:  # signalled before uvicorn took the signals: drain now
                        signal.raise_signal(early_signals[0])
                    await serving
            finally:
                if not serving.done():  # the registration failed: stop uvicorn cleanly first
                    server.should_exit = True
                    await serving
    finally:
        admin.close()
    print(f"inmesh serve: {name} drained and stopped", flush=True)
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
    service_account: str | None = None,
    admin_port: int = 0,
    access_log: str = "off",
) -> int:
    """Run ``app_ref`` (``module:attribute``) as a workload of ``service`` until signalled.

    Returns the exit status. Options are all checked before anything starts; their
    problems are printed on stderr, one line each, and the status is 2.
    """
    options = ServeOptions(
        app=app_ref,
        service=service,
        version=version,
        namespace=namespace,
        host=host,
        port=port,
        registry=registry or os.environ.get("INMESH_REGISTRY") or "http://127.0.0.1:15010",
        drain=drain,
        ttl=ttl,
        service_account=service_account,
        admin_port=admin_port,
        access_log=access_log,
    )
    problems = options.problems()
    token = token or os.environ.get("INMESH_TOKEN") or _local_admin_token()
    if token is None:
        problems.append(
            "no token for the registry: pass --token or set $INMESH_TOKEN (the registry's"
            f" admin token was not found at {_local_admin_token_path()})"
        )
    if problems or token is None:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return USAGE_ERROR
    sys.path.insert(0, os.getcwd())
    try:
        app: Any = import_from_string(app_ref)
    except (ImportFromStringError, ImportError) as exc:
        raise InmeshError(f"cannot load the application {app_ref!r}: {exc}") from None
    sock = _bind(host, port)
    with _signals_noted() as early_signals:
        return asyncio.run(
            _run(
                app,
                sock,
                options,
                token=token,
                config=config,
                cache_file=cache_file,
                early_signals=early_signals,
            )
        )


def _access_log_to_stdout() -> None:
    """Access-log lines on stdout, one per line, as Envoy writes them to /dev/stdout
    (unless the application configured the ``inmesh.access`` logger itself)."""
    import logging

    from .telemetry._access_log import ACCESS_LOGGER

    logger = logging.getLogger(ACCESS_LOGGER)
    if logger.handlers:
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _local_admin_token_path() -> Path:
    from .registry._data import ADMIN_TOKEN_FILE, default_data_dir

    return default_data_dir() / ADMIN_TOKEN_FILE


def _local_admin_token() -> str | None:
    """For local use, the admin token the registry wrote in its data directory."""
    from .registry._data import read_admin_token

    return read_admin_token(_local_admin_token_path().parent)


__all__ = ["serve"]
