"""``inmesh registry serve``: the registry under uvicorn, on SQLite or etcd, with its
certificate authority (``_ca.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import signal
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from ...security._ca import DEFAULT_CERT_TTL, MAX_CERT_TTL
from ...security._identity import DEFAULT_TRUST_DOMAIN
from .._data import ADMIN_TOKEN_FILE, DEFAULT_LISTEN, default_data_dir, ensure_admin_token
from .._errors import RegistryError
from ..store import EtcdStore, SqliteStore, Store
from ._app import create_app
from ._ca import open_ca
from ._push import Hub

__all__ = [
    "RegistryServer",
    "ServeOptions",
    "make_store",
    "parse_listen",
    "serve",
]

DB_FILE = "registry.db"


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise RegistryError(f"--listen {listen!r}: expected HOST:PORT, e.g. {DEFAULT_LISTEN}")
    return host.strip("[]") or "127.0.0.1", int(port)


@dataclass(frozen=True, kw_only=True)
class ServeOptions:
    listen: str = DEFAULT_LISTEN
    data: Path | None = None
    store: str = "sqlite"
    etcd_endpoints: Sequence[str] = ()
    etcd_prefix: str = "/inmesh"
    debounce: float = 0.1
    max_delay: float = 1.0
    ca_dir: Path | None = None
    trust_domain: str = DEFAULT_TRUST_DOMAIN
    cert_ttl: float = DEFAULT_CERT_TTL
    max_cert_ttl: float = MAX_CERT_TTL
    #: The largest request body accepted (413 past it).
    max_body: int = 4 * 1024 * 1024


def make_store(options: ServeOptions, data: Path) -> Store:
    if options.store == "sqlite":
        return SqliteStore(data / DB_FILE)
    if options.store == "etcd":
        if not options.etcd_endpoints:
            raise RegistryError("--store etcd needs --etcd-endpoints URL[,URL...]")
        return EtcdStore(options.etcd_endpoints, prefix=options.etcd_prefix)
    raise RegistryError(f"--store {options.store!r}: expected sqlite or etcd")


class RegistryServer(uvicorn.Server):
    """uvicorn, but answering every held long poll at shutdown instead of waiting for it."""

    def __init__(self, config: uvicorn.Config, hub: Hub) -> None:
        super().__init__(config)
        self.hub = hub

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.hub.release()
        await super().shutdown(sockets)


def _raise_fd_limit() -> None:
    """Each watcher holds a connection: lift the soft file limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _preflight(store: Store) -> None:
    """Open and close the store once, so a bad --data or unreachable etcd is one clear
    error here instead of a failed application startup inside uvicorn."""
    await store.open()
    await store.close()


def serve(options: ServeOptions) -> int:
    """Run until SIGINT/SIGTERM. Prints one line with the URL it serves on (the port
    actually bound when ``--listen`` asks for port 0)."""
    host, port = parse_listen(options.listen)
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    data = options.data or default_data_dir()
    admin_token = ensure_admin_token(data)
    asyncio.run(_preflight(make_store(options, data)))
    ca = open_ca(
        data,
        ca_dir=options.ca_dir,
        trust_domain=options.trust_domain,
        cert_ttl=options.cert_ttl,
        max_cert_ttl=options.max_cert_ttl,
        shared_store=options.store == "etcd",
    )
    store = make_store(options, data)
    app = create_app(
        store,
        admin_token=admin_token,
        debounce=options.debounce,
        max_delay=options.max_delay,
        max_body=options.max_body,
        ca=ca,
    )
    _raise_fd_limit()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise RegistryError(f"cannot listen on {options.listen}: {exc.strerror}") from None
    sock.listen(4096)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    where = (
        f"sqlite {data / DB_FILE}"
        if options.store == "sqlite"
        else f"etcd {','.join(options.etcd_endpoints)}"
    )
    print(
        f"inmesh registry serving on http://{shown}:{bound} (store: {where}; admin token: "
        f"{data / ADMIN_TOKEN_FILE}; CA: {ca.source}, trust domain {ca.trust_domain})",
        flush=True,
    )
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
        backlog=4096,
        # Longer than a client's idle-connection expiry (httpx: 5 s, uvicorn's default
        # here too): the client closes an idle connection first, so it never sends a poll
        # on one the registry is closing ("Server disconnected without sending a
        # response", seen with 1,000 watchers).
        timeout_keep_alive=75,
        # httptools (llhttp, in C) rather than h11: with 1,000 watchers the registry's
        # push is mostly parsing polls and writing answers, and the C parser halved it
        # (220 -> 110 ms of CPU per change; benchmarks/convergence.py).
        http="httptools",
    )
    server = RegistryServer(config, app.state.registry.hub)
    # uvicorn re-raises the signal that stopped it once it has shut down gracefully;
    # with this handler in place SIGTERM ends in exit status 0 rather than death by signal.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    asyncio.run(server.serve(sockets=[sock]))
    sys.stdout.flush()
    return 0
