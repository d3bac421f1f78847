"""``inmesh demo``: two versions of a service under uvicorn, a 90/10 canary from Istio YAML,
and the split measured over real HTTP requests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from ._mesh import Mesh
from .config import load_config, parse_documents

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "canary"


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted sockets
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@contextlib.contextmanager
def _service(version: str) -> Iterator[int]:
    """Run examples/canary/app.py as ``version`` under uvicorn; yield its port."""
    sock = _listening_socket()
    port: int = sock.getsockname()[1]
    env = {**os.environ, "VERSION": version, "SERVICE": "reviews"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--fd",
            str(sock.fileno()),
            "--log-level",
            "warning",
            "--app-dir",
            str(EXAMPLES),
            "app:app",
        ],
        pass_fds=(sock.fileno(),),
        env=env,
    )
    sock.close()
    try:
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _workloads(ports: dict[str, int]) -> list[Any]:
    """The service and its two workloads, as the registry would know them."""
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "ServiceEntry",
            "metadata": {"name": "reviews", "namespace": "default"},
            "spec": {
                "hosts": ["reviews.default.svc.cluster.local"],
                "location": "MESH_INTERNAL",
                "resolution": "STATIC",
                "ports": [{"number": 9080, "name": "http", "protocol": "HTTP"}],
                "workloadSelector": {"labels": {"app": "reviews"}},
            },
        }
    ]
    for version, port in ports.items():
        docs.append(
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "WorkloadEntry",
                "metadata": {"name": f"reviews-{version}", "namespace": "default"},
                "spec": {
                    "address": "127.0.0.1",
                    "ports": {"http": port},
                    "labels": {"app": "reviews", "version": version},
                },
            }
        )
    return list(parse_documents(docs, source="<demo workloads>"))


def _wait_ready(ports: dict[str, int]) -> None:
    deadline = time.monotonic() + 20
    for port in ports.values():
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"demo: the service on port {port} did not start") from None
                time.sleep(0.1)


def run(requests: int = 2000) -> int:
    """Run the demo; return the process exit status."""
    with _service("v1") as p1, _service("v2") as p2:
        ports = {"v1": p1, "v2": p2}
        _wait_ready(ports)
        routing = load_config(EXAMPLES / "reviews-90-10.yaml")
        mesh = Mesh(
            service="productpage", labels={"version": "v1"}, config=[*routing, *_workloads(ports)]
        )
        print(f"inmesh demo: reviews v1 on 127.0.0.1:{p1}, v2 on 127.0.0.1:{p2}")
        print("applied examples/canary/reviews-90-10.yaml (VirtualService reviews: v1 90, v2 10)")
        counts: Counter[str] = Counter()
        started = time.perf_counter()
        with mesh, mesh.sync_client() as client:
            for _ in range(requests):
                r = client.get("http://reviews:9080/reviews/1")
                r.raise_for_status()
                counts[r.json()["version"]] += 1
        elapsed = time.perf_counter() - started
        print(f"sent {requests} requests to http://reviews:9080/ in {elapsed:.2f}s")
        for version in ("v1", "v2"):
            share = 100.0 * counts[version] / requests
            print(f"  {version}: {counts[version]:5d} requests  {share:5.1f}%")
        ok = abs(100.0 * counts["v1"] / requests - 90.0) < 3.0
        print("split within 3 points of 90/10" if ok else "split outside 3 points of 90/10")
        return 0 if ok else 1
