"""Tail latency with one slow endpoint: LEAST_REQUEST against ROUND_ROBIN.

    .venv/bin/python benchmarks/tail_latency.py [--quick] [--requests 3000] [--rounds 3]
                                                [--inflight 16] [--slow-ms 50]

Three endpoints, each its own server process on 127.0.0.1 (``_server.py``); endpoint 1
waits ``--slow-ms`` (50 ms) before answering (``asyncio.sleep``, no CPU), the others answer
at once. ``--inflight`` asyncio tasks (16) share one ``httpx.AsyncClient`` and send GETs
back to back until the round's requests are done, so that many requests are always in
flight; every client keeps up to 100 idle connections (``httpx.Limits``), so none is
reopened during the run. Clients, interleaved round by round (in the order below, then again):

- ``raw httpx -> 1 fast``: plain httpx to one fast endpoint, the reference asked for;
- ``raw httpx -> 2 fast``: plain httpx alternating between the two fast endpoints: the best a
  balancer could do (the slow endpoint never used, the same server capacity as the mesh's
  fast share). On a small machine every figure here is mostly CPU queueing: with N requests
  in flight, mean latency is N / throughput (Little's law);
- ``inmesh LEAST_REQUEST`` and ``inmesh ROUND_ROBIN``: the mesh over the 3 endpoints
  (DestinationRule ``loadBalancer.simple``; Istio's default retry policy, never firing).

Reported: mean, p50, p90, p99 and max latency (``time.perf_counter`` around each request, over
every round), throughput, and the share of requests the mesh sent to the slow endpoint
(``RequestRecord.destination_endpoint`` from the mesh's hook; ROUND_ROBIN's is 1/3 by
construction). ``--requests`` is per client over all rounds. ``--quick``: 900 requests,
1 round.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
from _common import Servers, destination_rule, machine, pct, service_entry, table, workload_entries

import inmesh

SLOW = 1
# Enough idle connections kept for every client: httpx's default keeps 20 per pool and closes
# the rest, and reconnecting on loopback under load adds SYN-retransmit outliers (1 s) that
# have nothing to do with balancing.
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100)


@dataclass
class Variant:
    """One client and what it measured."""

    name: str
    client: httpx.AsyncClient
    urls: list[str]  # taken in turn
    endpoints: Counter[str] | None = None  # final endpoint per request, for the mesh
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    slow_hits: int = 0
    counted: int = 0


def mesh_variant(name: str, ports: list[int], lb: str) -> Variant:
    mesh = inmesh.Mesh(
        service="bench-client",
        config=[
            service_entry(),
            destination_rule({"loadBalancer": {"simple": lb}}),
            *workload_entries(ports),
        ],
    )
    counts: Counter[str] = Counter()
    mesh.add_hook(lambda rec: counts.update((rec.destination_endpoint,)))
    return Variant(name, mesh.client(limits=LIMITS), ["http://bench/"], endpoints=counts)


async def burst(v: Variant, n: int, inflight: int, *, record: bool) -> None:
    """``n`` requests with ``inflight`` tasks sending back to back."""
    left = n
    clock = time.perf_counter
    lat = v.latencies
    urls = v.urls

    async def task() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            t0 = clock()
            r = await v.client.get(urls[left % len(urls)])
            t1 = clock()
            if r.status_code != 200:
                raise SystemExit(f"{v.name}: unexpected status {r.status_code}")
            if record:
                lat.append(t1 - t0)

    t0 = clock()
    await asyncio.gather(*(task() for _ in range(inflight)))
    if record:
        v.elapsed += clock() - t0


async def run(requests: int, rounds: int, inflight: int, slow_ms: float) -> list[Variant]:
    with Servers([0.0, slow_ms, 0.0], process_per_endpoint=True) as servers:
        slow_key = servers.key(SLOW)
        fast = [f"http://127.0.0.1:{servers.ports[i]}/" for i in (0, 2)]
        variants = [
            Variant("raw httpx -> 1 fast", httpx.AsyncClient(limits=LIMITS), fast[:1]),
            Variant("raw httpx -> 2 fast", httpx.AsyncClient(limits=LIMITS), fast),
            mesh_variant("inmesh LEAST_REQUEST", servers.ports, "LEAST_REQUEST"),
            mesh_variant("inmesh ROUND_ROBIN", servers.ports, "ROUND_ROBIN"),
        ]
        try:
            for v in variants:  # open the connections
                await burst(v, inflight * 4, inflight, record=False)
            per_round = max(1, requests // rounds)
            for _ in range(rounds):
                for v in variants:
                    before = Counter(v.endpoints) if v.endpoints is not None else None
                    await burst(v, per_round, inflight, record=True)
                    if v.endpoints is not None and before is not None:
                        v.slow_hits += v.endpoints[slow_key] - before[slow_key]
                        v.counted += v.endpoints.total() - before.total()
        finally:
            for v in variants:
                await v.client.aclose()
    return variants


def report(variants: list[Variant], *, inflight: int, slow_ms: float, rounds: int) -> None:
    print(
        f"3 endpoints (one process each), endpoint {SLOW} {slow_ms:g} ms slower, "
        f"{inflight} requests in flight, async client, loopback, {rounds} rounds"
    )
    print(f"machine: {machine()}")
    header = ["", "mean (ms)", "p50 (ms)", "p90 (ms)", "p99 (ms)", "max (ms)", "req/s", "to slow"]
    rows = []
    for v in variants:
        ms = [x * 1e3 for x in v.latencies]
        share = f"{100.0 * v.slow_hits / v.counted:.1f}%" if v.counted else "-"
        rows.append(
            [
                v.name,
                f"{sum(ms) / len(ms):.2f}",
                f"{pct(ms, 0.5):.2f}",
                f"{pct(ms, 0.9):.2f}",
                f"{pct(ms, 0.99):.2f}",
                f"{max(ms):.2f}",
                f"{len(ms) / v.elapsed:.0f}",
                share,
            ]
        )
    print(table(header, rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--requests", type=int, default=3000, help="per client, over all rounds")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--inflight", type=int, default=16)
    ap.add_argument("--slow-ms", type=float, default=50.0)
    ap.add_argument("--quick", action="store_true", help="900 requests, 1 round")
    a = ap.parse_args()
    requests, rounds = (900, 1) if a.quick else (a.requests, a.rounds)
    variants = asyncio.run(run(requests, rounds, a.inflight, a.slow_ms))
    report(variants, inflight=a.inflight, slow_ms=a.slow_ms, rounds=rounds)
    sys.exit(0)


if __name__ == "__main__":
    main()
