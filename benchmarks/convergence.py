"""How long a change takes to reach every watching client, and what it costs the registry.

    .venv/bin/python benchmarks/convergence.py [--watchers 100,500,1000] [--processes 4]
                                               [--changes 5] [--services N] [--report]

Starts a registry (``python -m inmesh.registry registry serve``, SQLite, default push
debounce of 100 ms) and, for each N, N watching ``RegistryClient``s spread over
``--processes`` worker processes (each worker runs its share on one event loop; every
client keeps its own view, as a Mesh would). Then it makes ``--changes`` changes (a
VirtualService weight) one after another and reports, over all clients and changes, the
time from just before the write request to the moment each client has its new view
(``time.time()``, one clock for all processes on this machine), the registry's CPU time
per change (user + system, from ``/proc``, from the write to the last client's view:
the apply, the publish and every watcher's answer and re-poll) and the bytes of watch
answers all clients received per change.

``--services N`` loads the N-service mesh of ``_scale_mesh.py`` (N ServiceEntries, 3N
WorkloadEntries, N DestinationRules, N VirtualServices; issue 12's shape) and changes one
of its VirtualServices; without it the mesh is one service. In a worker, clients share
parsed resources of the same version (each would parse them alike): a thousand clients
each parsing a 1,000-service mesh would measure pydantic, not the push.

Columns: p50, p99 and max from just before the write; ``write ms`` the apply's round trip
(median); ``push p99`` from the write's answer (the commit) to each client's view, i.e.
without the apply's own validation; ``cpu w/p`` the registry's CPU milliseconds per
change in the write and in the push that follows (medians); ``KB sent`` the watch bytes
all clients received per change (median).

The baseline in the same run: the write's own round trip, and N=1 (one watcher), which is
the push debounce plus one delivery. Budget: p99 under 1 s with 1000 watchers.

"Before" figures come from the same driver against an older tree
(``PYTHONPATH=<old tree>/src``): the registry process and the clients import whichever
inmesh is on the path.

With ``--report`` every client also reports its status as a Mesh does (``proxy=``,
``applied()``: one ``POST /v1/proxies`` per client and change), and each round ends by
checking that the registry lists every client as SYNCED.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from _scale_mesh import mesh_docs

VS = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews}}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {{host: reviews, subset: v1}}
      weight: {weight}
    - destination: {{host: reviews, subset: v2}}
      weight: {rest}
"""
BASE = """apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [reviews.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: reviews}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
"""


# -- worker: N clients in one process ------------------------------------------------------


def share_parsing() -> None:
    """Clients of one worker share the parsed resource of each document version."""
    from inmesh.registry.client import _view

    parse = vars(_view)["parse_documents"]
    parsed: dict[tuple[str, str, str, str], Any] = {}

    def key(doc: Mapping[str, Any]) -> tuple[str, str, str, str]:
        meta = doc.get("metadata") or {}
        return (doc["kind"], meta.get("namespace", ""), meta["name"], meta["resourceVersion"])

    def shared(docs: Sequence[Mapping[str, Any]], **kw: Any) -> list[Any]:
        fresh = [d for d in docs if key(d) not in parsed]
        if fresh:
            parsed.update(zip(map(key, fresh), parse(fresh, **kw), strict=True))
        return [parsed[key(d)] for d in docs]

    vars(_view)["parse_documents"] = shared


async def worker(url: str, token: str, count: int, report: bool) -> None:
    from inmesh.registry import ProxyInfo, RegistryClient

    share_parsing()
    received_bytes = [0]

    class CountingClient(RegistryClient):
        async def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
            response = await super().request(method, path, **kw)
            if path == "/v1/watch":
                received_bytes[0] += len(response.content)
            return response

    # One connection pool per client, as each process of a real mesh has its own (a pool
    # shared by hundreds of clients would measure httpcore's pool scan instead); they
    # share one TLS context only because building hundreds of them is slow to start.
    tls = ssl.create_default_context()
    received: list[list[tuple[int, float]]] = [[] for _ in range(count)]
    clients: list[RegistryClient] = []
    pools: list[httpx.AsyncClient] = []

    async def follow(i: int) -> None:
        http = httpx.AsyncClient(trust_env=False, verify=tls, timeout=60)
        pools.append(http)
        proxy = ProxyInfo(f"watcher-{os.getpid()}-{i}") if report else None
        client = CountingClient(url, token, http=http, hold=30, timeout=60, proxy=proxy)
        clients.append(client)
        async for view in client.watch(first_timeout=600):
            received[i].append((view.revision, time.time()))
            client.applied(view)

    # Clients start in batches, each once the previous one has its first view: a fleet
    # does not start in one instant, and a thousand simultaneous first snapshots of a
    # large mesh would measure the start, not the push.
    tasks: list[asyncio.Task[None]] = []
    for start in range(0, count, 25):
        batch = range(start, min(count, start + 25))
        tasks.extend(asyncio.create_task(follow(i)) for i in batch)
        while not all(received[i] for i in batch):
            if failed := [t for t in tasks if t.done()]:
                raise RuntimeError(f"a client stopped: {failed[0].exception()!r}")
            await asyncio.sleep(0.05)
    # One process holds the views of hundreds of clients (a real process holds one): its
    # garbage collector would walk all of them on every full collection, seconds each.
    # Freezing what exists after the start keeps that artifact out of the measurement.
    gc.collect()
    gc.freeze()
    received_bytes[0] = 0
    print("READY", flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line or line.strip() == "EXIT":
            break
        target = int(line.split()[1])
        while not all(r[-1][0] >= target for r in received):
            await asyncio.sleep(0.005)
        times = [next(t for rev, t in r if rev >= target) for r in received]
        print("DONE " + json.dumps({"times": times, "bytes": received_bytes[0]}), flush=True)
        received_bytes[0] = 0
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for c in clients:
        await c.aclose()  # leaves the proxy table
    for http in pools:
        await http.aclose()


# -- driver ----------------------------------------------------------------------------------


def start_registry(data: Path) -> tuple[subprocess.Popen[str], str, str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "inmesh.registry",
            "registry",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data",
            str(data),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    url = line.split("serving on ")[1].split()[0]
    for _ in range(200):
        try:
            httpx.get(url + "/v1/healthz", trust_env=False)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    return process, url, (data / "admin-token").read_text().strip()


def cpu_seconds(pid: int) -> float:
    """A process's user + system CPU time so far (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def change(services: int, weight: int) -> str:
    """The changed VirtualService, as JSON (one service) or YAML (the small mesh)."""
    if not services:
        return VS.format(weight=weight, rest=100 - weight)
    (vs,) = [d for d in mesh_docs(1) if d["kind"] == "VirtualService"]
    split = vs["spec"]["http"][-1]["route"]
    split[0]["weight"], split[1]["weight"], split[2]["weight"] = weight, 90 - weight, 10
    return json.dumps(vs)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_round(
    url: str,
    admin: dict[str, str],
    token: str,
    watchers: int,
    processes: int,
    changes: int,
    weight: list[int],
    report: bool,
    *,
    registry_pid: int,
    services: int,
) -> dict[str, Any]:
    shares = [
        watchers // processes + (1 if i < watchers % processes else 0)
        for i in range(min(processes, watchers))
    ]
    workers = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", url, token, str(n), str(int(report))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in shares
    ]
    try:
        for w in workers:
            assert w.stdout is not None
            if w.stdout.readline().strip() != "READY":
                raise RuntimeError("a worker failed to start")
        latencies: list[float] = []
        pushes: list[float] = []
        writes: list[float] = []
        apply_cpu: list[float] = []
        push_cpu: list[float] = []
        sent: list[int] = []
        with httpx.Client(base_url=url, headers=admin, trust_env=False, timeout=60) as c:
            for _ in range(changes):
                time.sleep(0.5)  # let the previous round's re-polls settle
                weight[0] = 80 - weight[0] if weight[0] != 40 else 30
                body = change(services, weight[0])
                kind = "application/json" if services else "application/yaml"
                cpu0, t0 = cpu_seconds(registry_pid), time.time()
                response = c.post("/v1/apply", content=body, headers={"content-type": kind})
                cpu1, t1 = cpu_seconds(registry_pid), time.time()
                writes.append(t1 - t0)
                response.raise_for_status()
                revision = response.json()["revision"]
                for w in workers:
                    w.stdin.write(f"WAIT {revision}\n")  # type: ignore[union-attr]
                    w.stdin.flush()  # type: ignore[union-attr]
                received = 0
                for w in workers:
                    line = w.stdout.readline()  # type: ignore[union-attr]
                    done = json.loads(line.split(" ", 1)[1])
                    latencies.extend(t - t0 for t in done["times"])
                    pushes.extend(t - t1 for t in done["times"])
                    received += done["bytes"]
                apply_cpu.append(cpu1 - cpu0)
                push_cpu.append(cpu_seconds(registry_pid) - cpu1)
                sent.append(received)
            synced = -1
            if report:  # every client reported the last revision (bounded wait)
                deadline = time.time() + 30
                while time.time() < deadline:
                    items = c.get("/v1/proxies").json()["items"]
                    synced = sum(p["status"] == "SYNCED" for p in items)
                    if synced == watchers:
                        break
                    time.sleep(0.1)
        return {
            "synced": synced,
            "watchers": watchers,
            "processes": len(shares),
            "samples": len(latencies),
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * percentile(latencies, 0.99),
            "max_ms": 1000 * max(latencies),
            "write_p50_ms": 1000 * statistics.median(writes),
            "push_p99_ms": 1000 * percentile(pushes, 0.99),
            "apply_cpu_ms": 1000 * statistics.median(apply_cpu),
            "push_cpu_ms": 1000 * statistics.median(push_cpu),
            "kb": statistics.median(sent) / 1000,
        }
    finally:
        for w in workers:
            try:
                w.stdin.write("EXIT\n")  # type: ignore[union-attr]
                w.stdin.flush()  # type: ignore[union-attr]
            except BrokenPipeError:
                pass
        for w in workers:
            try:
                w.wait(15)
            except subprocess.TimeoutExpired:
                w.kill()


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        asyncio.run(worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1"))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--watchers",
        default="100,500,1000",
        help="comma-separated watcher counts (default 100,500,1000)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=4,
        help="worker processes the watchers are spread over (default 4)",
    )
    parser.add_argument("--changes", type=int, default=5, help="changes per round")
    parser.add_argument(
        "--services",
        type=int,
        default=0,
        help="load the N-service mesh of _scale_mesh.py (default: one service)",
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="clients report their status (proxy status), as a Mesh does",
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.watchers.split(",")]
    with tempfile.TemporaryDirectory(prefix="inmesh-convergence-") as tmp:
        registry, url, secret = start_registry(Path(tmp) / "data")
        admin = {"Authorization": f"Bearer {secret}"}
        try:
            with httpx.Client(base_url=url, headers=admin, trust_env=False, timeout=600) as c:
                if args.services:
                    c.post("/v1/apply", json=mesh_docs(args.services)).raise_for_status()
                else:
                    c.post(
                        "/v1/apply", content=BASE + "---\n" + VS.format(weight=90, rest=10)
                    ).raise_for_status()
                token = c.post("/v1/tokens", json={"namespace": "default"}).json()["token"]
            print(
                f"registry {url}, push debounce 100 ms; {os.cpu_count()} CPUs; "
                f"{args.services or 1} services; {args.changes} changes per round"
                + ("; clients report their status" if args.report else "")
            )
            print(
                f"{'watchers':>8} {'procs':>5} {'samples':>7} {'p50 ms':>8} {'p99 ms':>8} "
                f"{'max ms':>8} {'write ms':>8} {'push p99':>8} {'cpu w/p':>13} {'KB sent':>9}"
                + (f" {'synced':>7}" if args.report else "")
            )
            weight = [20]
            for n in [1, *counts]:
                r = run_round(
                    url,
                    admin,
                    token,
                    n,
                    args.processes,
                    args.changes,
                    weight,
                    args.report,
                    registry_pid=registry.pid,
                    services=args.services,
                )
                label = f"{n}" + (" (baseline)" if n == 1 else "")
                print(
                    f"{label:>8} {r['processes']:>5} {r['samples']:>7} {r['p50_ms']:>8.1f} "
                    f"{r['p99_ms']:>8.1f} {r['max_ms']:>8.1f} {r['write_p50_ms']:>8.1f} "
                    f"{r['push_p99_ms']:>8.1f} "
                    f"{r['apply_cpu_ms']:>6.0f}/{r['push_cpu_ms']:<6.0f} {r['kb']:>9.1f}"
                    + (f" {r['synced']:>7}" if args.report else ""),
                    flush=True,
                )
        finally:
            registry.terminate()
            registry.wait(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
