"""The mesh's own cost per request: raw httpx against the inmesh transport, same server,
same requests, one run.

    .venv/bin/python benchmarks/overhead.py [--requests 3000] [--rounds 5]

The inmesh configuration exercises the per-request work of the foundation: a
VirtualService header match, a weighted subset choice, and LEAST_REQUEST over 3 endpoints.
The server runs in its own process; client CPU per request is this process's CPU time.
Rounds alternate raw and mesh so drift on the machine hits both alike. Budget: inmesh at
most 1.10x raw httpx on p50 latency and on CPU per request.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

import inmesh

HERE = Path(__file__).resolve().parent


def mesh_config(ports: list[int]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "ServiceEntry",
            "metadata": {"name": "bench"},
            "spec": {
                "hosts": ["bench.default.svc.cluster.local"],
                "location": "MESH_INTERNAL",
                "resolution": "STATIC",
                "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
                "workloadSelector": {"labels": {"app": "bench"}},
            },
        },
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": "bench"},
            "spec": {
                "host": "bench",
                "trafficPolicy": {"loadBalancer": {"simple": "LEAST_REQUEST"}},
                "subsets": [
                    {"name": "v1", "labels": {"version": "v1"}},
                    {"name": "v2", "labels": {"version": "v2"}},
                ],
            },
        },
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "bench"},
            "spec": {
                "hosts": ["bench"],
                "http": [
                    {
                        "match": [{"headers": {"end-user": {"exact": "jason"}}}],
                        "route": [{"destination": {"host": "bench", "subset": "v2"}}],
                    },
                    {
                        "route": [
                            {"destination": {"host": "bench", "subset": "v1"}, "weight": 90},
                            {"destination": {"host": "bench", "subset": "v2"}, "weight": 10},
                        ]
                    },
                ],
            },
        },
    ]
    for i, port in enumerate(ports):
        docs.append(
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "WorkloadEntry",
                "metadata": {"name": f"bench-{i}"},
                "spec": {
                    "address": "127.0.0.1",
                    "ports": {"http": port},
                    "labels": {"app": "bench", "version": "v1" if i < 3 else "v2"},
                },
            }
        )
    return docs


async def measure(client: httpx.AsyncClient, url: str, n: int) -> tuple[list[float], float]:
    lat: list[float] = []
    headers = {"end-user": "mary"}
    for _ in range(50):  # warm the pool
        (await client.get(url, headers=headers)).raise_for_status()
    cpu0 = time.process_time()
    for _ in range(n):
        t0 = time.perf_counter()
        r = await client.get(url, headers=headers)
        lat.append(time.perf_counter() - t0)
        if r.status_code != 200:
            raise SystemExit(f"unexpected status {r.status_code} from {url}")
    return lat, (time.process_time() - cpu0) / n


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


async def run(requests: int, rounds: int) -> int:
    server = subprocess.Popen(
        [sys.executable, str(HERE / "_server.py"), "4"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        ports = [int(p) for p in server.stdout.readline().split()]
        time.sleep(0.5)
        mesh = inmesh.Mesh(service="bench-client", config=mesh_config(ports))
        raw_lat: list[float] = []
        mesh_lat: list[float] = []
        raw_cpu: list[float] = []
        mesh_cpu: list[float] = []
        async with httpx.AsyncClient() as raw, mesh.client() as meshed:
            for _ in range(rounds):
                lat, cpu = await measure(raw, f"http://127.0.0.1:{ports[0]}/", requests)
                raw_lat += lat
                raw_cpu.append(cpu)
                lat, cpu = await measure(meshed, "http://bench/", requests)
                mesh_lat += lat
                mesh_cpu.append(cpu)
    finally:
        if server.stdin:
            server.stdin.close()
        server.wait(timeout=10)
    rows = [
        ("p50 latency (us)", pct(raw_lat, 0.5) * 1e6, pct(mesh_lat, 0.5) * 1e6),
        ("p99 latency (us)", pct(raw_lat, 0.99) * 1e6, pct(mesh_lat, 0.99) * 1e6),
        (
            "client CPU/request (us)",
            statistics.median(raw_cpu) * 1e6,
            statistics.median(mesh_cpu) * 1e6,
        ),
    ]
    print(f"{requests} requests x {rounds} rounds, sequential, async client, loopback")
    print(f"{'':26s}{'raw httpx':>12s}{'inmesh':>12s}{'ratio':>8s}")
    for name, a, b in rows:
        print(f"{name:26s}{a:12.1f}{b:12.1f}{b / a:8.3f}")
    over = [name for name, a, b in rows if not name.startswith("p99") and b / a > 1.10]
    print("within budget (1.10x on p50 and CPU)" if not over else f"OVER BUDGET: {over}")
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    sys.exit(asyncio.run(run(a.requests, a.rounds)))


if __name__ == "__main__":
    main()
