"""`inmesh.Workload` in an application's own lifespan under plain uvicorn (a real
``python -m uvicorn`` process) against a real registry process: a SIGTERM deregisters and
drains while uvicorn still accepts, so a Mesh client sending steadily loses no request and
needs no retry."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

import inmesh
from tests.integration.registry.conftest import Registry, free_port, spawn_registry
from tests.integration.test_serve import SERVICE, endpoints, wait_for

ROOT = Path(__file__).resolve().parents[2]
MAX_REQUESTS = 20_000  # the traffic loop's bound, whatever happens


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    reg = spawn_registry(tmp_path / "registry")
    assert reg.apply(SERVICE).status_code == 200
    yield reg
    reg.stop()


class Uvicorn:
    """``python -m uvicorn tests.lifespan_app:app``: the app registers in its lifespan."""

    def __init__(self, registry: Registry) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "PORT": str(self.port),
            "INMESH_REGISTRY": registry.url,
            "INMESH_TOKEN": registry.admin,
            "DRAIN": "2",
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
        }
        command = [sys.executable, "-m", "uvicorn", "tests.lifespan_app:app"]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        self.proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self.proc.stdout is not None
        self.output = [self.proc.stdout.readline()]
        assert self.output[0].strip() == "registered; drains on signal: True", self.output
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        self.output.extend(line.strip() for line in self.proc.stdout)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        self._reader.join(timeout=10)
        return code


class Traffic:
    """Sequential requests through the mesh until stopped (or MAX_REQUESTS), counting
    statuses, errors, the serving pids and the attempts each request took."""

    def __init__(self, mesh: inmesh.Mesh) -> None:
        self.statuses: Counter[int] = Counter()
        self.pids: Counter[int] = Counter()
        self.attempts: Counter[int] = Counter()
        self.errors: list[str] = []
        mesh.add_hook(lambda record: self.attempts.update([record.attempts]))
        self._mesh = mesh
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def sent(self) -> int:
        return sum(self.statuses.values()) + len(self.errors)

    def _run(self) -> None:
        with self._mesh.sync_client(timeout=10) as client:
            while not self._stop.is_set() and self.sent < MAX_REQUESTS:
                try:
                    response = client.get("http://echo:9080/")
                    self.statuses[response.status_code] += 1
                    if response.status_code == 200:
                        self.pids[response.json()["pid"]] += 1
                except Exception as exc:  # counted: a lost request
                    self.errors.append(repr(exc))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def test_sigterm_under_plain_uvicorn_loses_and_retries_nothing(registry: Registry) -> None:
    a, b = Uvicorn(registry), Uvicorn(registry)
    mesh = inmesh.Mesh(service="client", registry=registry.url, token=registry.admin)
    try:
        with mesh:
            wait_for(lambda: endpoints(mesh) == {a.port, b.port})
            traffic = Traffic(mesh)
            wait_for(lambda: a.proc.pid in traffic.pids and b.proc.pid in traffic.pids)
            # uvicorn raises the SIGTERM again once it has stopped: the process dies of it
            assert a.stop() == -signal.SIGTERM
            assert endpoints(mesh) == {b.port}
            after = traffic.sent
            wait_for(lambda: traffic.sent >= after + 50)
            traffic.stop()
        assert a.output[-1] == "deregistered", a.output
        assert traffic.errors == []
        assert set(traffic.statuses) == {200}, traffic.statuses
        assert set(traffic.attempts) == {1}, traffic.attempts  # no request needed a retry
    finally:
        for inst in (a, b):
            if inst.proc.poll() is None:
                inst.stop()
