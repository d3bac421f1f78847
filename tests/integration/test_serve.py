"""`inmesh serve` as real processes against a real registry process: workloads register the
port they bound, clients follow them, and a restart under steady traffic loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import inmesh
from tests.integration.registry.conftest import Registry, spawn_registry

ROOT = Path(__file__).resolve().parents[2]
SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  ports: [{port: 9080, name: http}]
  selector: {app: echo}
"""


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    reg = spawn_registry(tmp_path / "registry")
    assert reg.apply(SERVICE).status_code == 200
    yield reg
    reg.stop()


class Instance:
    """One `inmesh serve tests.serve_app:app --service echo` process."""

    def __init__(self, registry: Registry, *extra: str) -> None:
        env = {**os.environ, "INMESH_TOKEN": registry.admin, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "inmesh",
                "serve",
                "tests.serve_app:app",
                "--service",
                "echo",
                "--version",
                "v1",
                "--registry",
                registry.url,
                "--drain",
                "1",
                *extra,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert "inmesh serve: echo v1 on 127.0.0.1:" in line, line
        self.port = int(line.split("127.0.0.1:")[1].split()[0])
        self.metrics_url = line.split("metrics at ")[1].strip()
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._drain_output, daemon=True)
        self._reader.start()

    def _drain_output(self) -> None:
        assert self.proc.stdout is not None
        self.output.extend(self.proc.stdout)

    def wait(self, timeout: float = 30) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)  # all its output read
        return code

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.wait()


def endpoints(mesh: inmesh.Mesh) -> set[int]:
    cluster = mesh.snapshot.clusters.get(("echo.default.svc.cluster.local", None, 9080))
    return {e.port for e in cluster.endpoints} if cluster is not None else set()


def wait_for(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


class Traffic:
    """Steady sequential requests to echo through the mesh in a thread, counting outcomes."""

    def __init__(self, mesh: inmesh.Mesh) -> None:
        self.mesh = mesh
        self.statuses: Counter[int] = Counter()
        self.pids: Counter[int] = Counter()
        self.attempts: Counter[int] = Counter()
        self.errors: list[str] = []
        mesh.add_hook(lambda record: self.attempts.update([record.attempts]))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with self.mesh.sync_client(timeout=10) as c:
            while not self._stop.is_set():
                try:
                    r = c.get("http://echo:9080/")
                    self.statuses[r.status_code] += 1
                    if r.status_code == 200:
                        self.pids[r.json()["pid"]] += 1
                except Exception as exc:  # counted: a lost request
                    self.errors.append(repr(exc))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def test_restart_under_traffic_loses_no_request(registry: Registry) -> None:
    a, b = Instance(registry), Instance(registry)
    mesh = inmesh.Mesh(service="client", registry=registry.url, token=registry.admin)
    try:
        with mesh:
            wait_for(lambda: endpoints(mesh) == {a.port, b.port})
            traffic = Traffic(mesh)
            time.sleep(1.0)
            assert a.stop() == 0  # SIGTERM: deregister, drain, finish, exit 0
            assert any("drained and stopped" in line for line in a.output)
            assert endpoints(mesh) == {b.port}
            a = Instance(registry)
            wait_for(lambda: endpoints(mesh) == {a.port, b.port})
            wait_for(lambda: a.proc.pid in traffic.pids)
            time.sleep(0.5)
            traffic.stop()
        assert traffic.errors == []
        assert set(traffic.statuses) == {200}, traffic.statuses
        assert set(traffic.attempts) == {1}, traffic.attempts  # not even a retry was needed
        assert sum(traffic.statuses.values()) > 50
    finally:
        for inst in (a, b):
            if inst.proc.poll() is None:
                inst.stop()


def test_a_killed_workload_expires_and_disappears(registry: Registry) -> None:
    a, b = Instance(registry, "--ttl", "2"), Instance(registry, "--ttl", "2")
    mesh = inmesh.Mesh(service="client", registry=registry.url, token=registry.admin)
    try:
        with mesh:
            wait_for(lambda: endpoints(mesh) == {a.port, b.port})
            a.stop(signal.SIGKILL)  # no goodbye: only the TTL removes it
            t0 = time.monotonic()
            wait_for(lambda: endpoints(mesh) == {b.port}, timeout=15)
            assert time.monotonic() - t0 < 10
            with mesh.sync_client() as c:
                assert all(c.get("http://echo:9080/").status_code == 200 for _ in range(10))
    finally:
        for inst in (a, b):
            if inst.proc.poll() is None:
                inst.stop()


def test_middleware_adds_a_request_id(registry: Registry) -> None:
    a = Instance(registry)
    mesh = inmesh.Mesh(service="client", registry=registry.url, token=registry.admin)
    try:
        with mesh:
            wait_for(lambda: endpoints(mesh) == {a.port})
            with mesh.sync_client() as c:
                assert c.get("http://echo:9080/").json()["request_id"]
                given = c.get("http://echo:9080/", headers={"x-request-id": "abc"})
                assert given.json()["request_id"] == "abc"
    finally:
        a.stop()


def test_workloads_of_a_registry_talk_mtls_with_no_code_in_the_app(registry: Registry) -> None:
    """Zero trust out of the box: both sides get their certificate from the registry's CA,
    the served workload registers with Istio's tlsMode label, so the client's auto mTLS
    presents its identity, which the app reads from the scope."""
    a = Instance(registry, "--service-account", "echo-sa")
    mesh = inmesh.Mesh(service="client", registry=registry.url, token=registry.admin)
    plain = inmesh.Mesh(service="legacy", config=[])  # no identity, no registry
    try:
        with mesh:
            wait_for(lambda: endpoints(mesh) == {a.port})
            [cluster] = [c for c in mesh.snapshot.clusters.values() if c.endpoints]
            assert cluster.mtls is not None and not cluster.mtls.explicit
            assert cluster.mtls.identities == {"spiffe://cluster.local/ns/default/sa/echo-sa"}
            with mesh.sync_client() as c:
                assert c.get("http://echo:9080/").json()["peer"] == (
                    "cluster.local/ns/default/sa/client"
                )
        # PERMISSIVE by default (Istio): a plaintext caller still gets in, with no peer
        with plain.sync_client() as c:
            assert c.get(f"http://127.0.0.1:{a.port}/").json()["peer"] is None
    finally:
        a.stop()


def test_a_served_workload_exposes_istios_metrics_and_registers_the_port(
    registry: Registry,
) -> None:
    a = Instance(registry)
    mesh = inmesh.Mesh(service="client", registry=registry.url, token=registry.admin)
    try:
        with mesh:
            wait_for(lambda: endpoints(mesh) == {a.port})
            with mesh.sync_client() as c:
                assert c.get("http://echo:9080/").status_code == 200
        text = httpx.get(a.metrics_url, trust_env=False).text
        # the destination reporter's series, over mTLS from the client's identity
        assert 'reporter="destination"' in text and "istio_requests_total" in text
        assert 'connection_security_policy="mutual_tls"' in text
        with registry.http() as http:
            targets = http.get("/v1/sd/prometheus").json()
        assert any(
            t.endswith(f":{a.metrics_url.split(':')[2].split('/')[0]}")
            for group in targets
            for t in group["targets"]
        )
    finally:
        a.stop()


def test_errors_are_one_line_without_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "INMESH_TOKEN": "x", "PYTHONPATH": str(ROOT)}
    bad_app = subprocess.run(
        [sys.executable, "-m", "inmesh", "serve", "tests.serve_app:nope", "--service", "x"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad_app.returncode == 1
    assert bad_app.stderr.strip().splitlines() == [
        "error: cannot load the application 'tests.serve_app:nope': "
        'Attribute "nope" not found in module "tests.serve_app".'
    ]


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "inmesh", "serve", "tests.serve_app:with_lifespan", *args]


def run_serve(
    registry: Registry, *args: str, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INMESH_TOKEN": token or registry.admin, "PYTHONPATH": str(ROOT)}
    command = serve_command("--registry", registry.url, "--drain", "0", *args)
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_bad_options_are_one_line_and_exit_2_before_anything_starts(registry: Registry) -> None:
    bad = run_serve(registry, "--service", "echo", "--version", "v 1!")
    assert bad.returncode == 2
    assert bad.stdout == ""  # nothing started: no "inmesh serve: ... on" line
    assert bad.stderr.splitlines() == [
        "error: --version: invalid label value 'v 1!' "
        "(alphanumerics, '-', '_' and '.', at most 63 characters)"
    ]
    several = run_serve(registry, "--service", "Echo", "--port", "70000", "--ttl", "0")
    assert several.returncode == 2
    assert [line.split()[1] for line in several.stderr.splitlines()] == [
        "--service",
        "--port",
        "--ttl",
    ]
    with registry.http() as c:
        assert c.get("/v1/workloads").json()["items"] == []


def test_a_registration_refused_after_uvicorn_started_is_one_line(registry: Registry) -> None:
    """A token for another namespace: the registry refuses the registration (403) after
    uvicorn has started; uvicorn is stopped cleanly first, then the error is one line."""
    other = registry.join_token("other")
    refused = run_serve(registry, "--service", "echo", token=other)
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    assert len(refused.stderr.splitlines()) == 1, refused.stderr
    assert refused.stderr.startswith("error: "), refused.stderr


def test_a_second_signal_cuts_the_drain_short(registry: Registry) -> None:
    a = Instance(registry, "--drain", "600")  # the last --drain wins over Instance's 1
    with registry.http() as c:
        wait_for(lambda: len(c.get("/v1/workloads").json()["items"]) == 1)
        a.proc.send_signal(signal.SIGTERM)  # deregisters, then would serve for 600 s
        wait_for(lambda: c.get("/v1/workloads").json()["items"] == [])
    assert a.proc.poll() is None  # still draining
    a.proc.send_signal(signal.SIGTERM)
    assert a.wait(timeout=60) == 0
    assert any("drained and stopped" in line for line in a.output)


def test_access_log_lines_on_stdout(registry: Registry) -> None:
    a = Instance(registry, "--access-log", "text")
    mesh = inmesh.Mesh(service="client", registry=registry.url, token=registry.admin)
    try:
        with mesh:
            wait_for(lambda: endpoints(mesh) == {a.port})
            with mesh.sync_client() as c:
                c.get("http://echo:9080/logged?q=1", headers={"user-agent": "probe/1"})
    finally:
        assert a.stop() == 0
    [line] = [o for o in a.output if '"GET /logged?q=1 ' in o]
    # Istio's TEXT line, the destination side: mTLS from the client, Envoy's inbound cluster
    assert line.startswith("[") and '" 200 - via_upstream - "-" 0 ' in line
    assert '"probe/1"' in line and '"echo:9080"' in line
    assert f" inbound|{a.port}|| - 127.0.0.1:{a.port} 127.0.0.1:" in line
    # the SNI the client's auto mTLS asked for, as Istio's sidecars name it
    assert line.rstrip().endswith(" outbound_.9080_._.echo.default.svc.cluster.local default")
