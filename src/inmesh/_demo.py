"""``inmesh demo``: a registry, a Bookinfo-like set of services started with
``inmesh serve``, a 90/10 reviews canary moved to 50/50 while traffic flows, and the
per-version shares printed as they change; at the end, where each workload's metrics are
and a per-edge summary computed from them. Ends by itself and stops every process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from ._mesh import Mesh

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "bookinfo"
WORKLOADS = [
    ("ratings", "v1", "examples.bookinfo.ratings:app"),
    ("reviews", "v1", "examples.bookinfo.reviews:app"),
    ("reviews", "v2", "examples.bookinfo.reviews:app"),
    ("reviews", "v3", "examples.bookinfo.reviews:app"),
    ("productpage", "v1", "examples.bookinfo.productpage:app"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _inmesh(*args: str) -> list[str]:
    return [sys.executable, "-m", "inmesh", *args]


@contextmanager
def _process(
    cmd: list[str], env: dict[str, str], wait_for: str, timeout: float = 30.0
) -> Iterator[str]:
    """Run ``cmd``; return the first line of its output that contains ``wait_for``; on
    exit, SIGTERM it (a workload drains) and wait."""
    proc = subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + timeout
        assert proc.stdout is not None
        while True:
            line = proc.stdout.readline()
            if wait_for in line:
                break
            if (not line and proc.poll() is not None) or time.monotonic() > deadline:
                raise SystemExit(f"demo: {' '.join(cmd[2:])} did not start")
        # keep reading what it prints, so that a full pipe never blocks it
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        yield line
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_registry(url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v1/healthz", timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"demo: the registry at {url} did not start")


def _window(client: httpx.Client, seconds: float) -> Counter[str]:
    counts: Counter[str] = Counter()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        r = client.get("http://productpage:9080/productpage")
        reviews = r.json().get("reviews", {}) if r.status_code == 200 else {}
        counts[reviews.get("version", f"error {r.status_code}")] += 1
    return counts


def _show(label: str, counts: Counter[str]) -> None:
    total = sum(counts.values()) or 1
    shares = "  ".join(f"{v}: {100.0 * counts[v] / total:5.1f}%" for v in sorted(counts))
    print(f"  {label:<28s} {total:4d} requests  {shares}", flush=True)


def _metrics_summary(metrics: list[tuple[str, str]]) -> None:
    """Where each workload's Istio metrics are, and the graph's edges computed from them
    (the destination side's series: every hop, the callers known by metadata exchange)."""
    from .telemetry._summary import format_edges, summarize_edges

    print("Istio metrics, in Prometheus format, on each workload's admin listener:")
    for workload, url in metrics:
        print(f"  {workload:<16s} curl {url}")
    texts = []
    for _, url in metrics:
        try:
            texts.append(httpx.get(url, timeout=5, trust_env=False).text)
        except httpx.TransportError as exc:
            print(f"  (could not scrape {url}: {exc})")
    print("edges (reporter=destination): requests, 5xx, p50 from the duration buckets")
    for line in format_edges(summarize_edges(texts)):
        print(f"  {line}")


def run(seconds: float = 6.0) -> int:
    """Run the demo; return the process exit status."""
    if not EXAMPLES.is_dir():
        raise SystemExit(f"inmesh demo runs from a source checkout: {EXAMPLES} not found")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="inmesh-demo-") as data, ExitStack() as stack:
        env = {
            **os.environ,
            "INMESH_REGISTRY": url,
            "INMESH_DATA": data,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        print(f"inmesh demo: registry on {url} (data in {data})", flush=True)
        stack.enter_context(
            _process(
                _inmesh("registry", "serve", "--listen", f"127.0.0.1:{port}", "--data", data),
                env,
                wait_for="inmesh registry serving",
                timeout=30,
            )
        )
        _wait_registry(url)
        token = (Path(data) / "admin-token").read_text().strip()
        env["INMESH_TOKEN"] = token
        subprocess.run(
            _inmesh(
                "apply",
                "-f",
                str(EXAMPLES / "services.yaml"),
                "-f",
                str(EXAMPLES / "reviews-90-10.yaml"),
            ),
            env=env,
            check=True,
        )
        metrics: list[tuple[str, str]] = []
        for service, version, app in WORKLOADS:
            started = stack.enter_context(
                _process(
                    _inmesh(
                        "serve", app, "--service", service, "--version", version, "--drain", "0.5"
                    ),
                    {**env, "VERSION": version},
                    wait_for="inmesh serve:",
                )
            )
            print(f"  started {service} {version} with `inmesh serve`", flush=True)
            metrics.append((f"{service}-{version}", started.split("metrics at ")[-1].strip()))
        subprocess.run(_inmesh("status"), env=env, check=True)
        mesh = Mesh(service="demo-client", registry=url, token=token)
        with mesh, mesh.sync_client(timeout=10.0) as client:
            print("reviews VirtualService 90/10 (v1/v2): traffic through productpage", flush=True)
            _show("90/10", _window(client, seconds))
            print("applying examples/bookinfo/reviews-50-50.yaml while traffic flows", flush=True)
            subprocess.run(
                _inmesh("apply", "-f", str(EXAMPLES / "reviews-50-50.yaml")), env=env, check=True
            )
            final: Counter[str] = Counter()
            for i in range(4):
                final = _window(client, seconds / 4)
                _show(f"after the change +{(i + 1) * seconds / 4:.1f}s", final)
            _show("50/50 (v1/v3), last window", final)
        _metrics_summary(metrics)
        errors = sum(n for v, n in final.items() if v.startswith("error"))
        ok = not errors and set(final) <= {"v1", "v3"}
        print("demo done: the canary moved without errors" if ok else "demo: unexpected answers")
        return 0 if ok else 1
