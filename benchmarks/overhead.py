"""The mesh's own cost per request: raw httpx, the inmesh transport, and inmesh with the full
resilience policy, against the same server, same requests, one run.

    .venv/bin/python benchmarks/overhead.py [--sync] [--quick] [--requests 2000] [--rounds 10]
        [--no-exchange] [--post N]

Three clients send sequential GETs over loopback to one server process listening on 4 ports
(``_server.py``; its CPU is not counted):

- ``raw httpx``: ``httpx.AsyncClient`` (``httpx.Client`` with ``--sync``) straight to one port.
- ``inmesh``: the foundation's per-request work: a VirtualService header match (which does
  not match), a 90/10 weighted subset choice, LEAST_REQUEST over the 3 endpoints of v1 (1 of
  v2).
- ``inmesh+policy``: the same plus the full resilience policy on a healthy backend: route
  ``timeout`` 5s, ``retries`` (attempts 3, perTryTimeout 2s, retryOn 5xx), DestinationRule
  ``outlierDetection`` (consecutive5xxErrors 5, interval 1s, baseEjectionTime 30s,
  maxEjectionPercent 100) and ``connectionPool`` limits (maxConnections 100, connectTimeout
  1s, http1MaxPendingRequests 1000, http2MaxRequests 1000, maxRetries 10, idleTimeout 60s)
  that are never reached.

Both inmesh clients run as every Mesh does by default: Istio's standard metrics recorded
into the process's registry (``Mesh(metrics=True)``, the source-side record of each request)
and the metadata exchange headers sent to the mesh service (the server, not a mesh workload,
answers none back). ``--no-exchange`` leaves those two headers out (a tool to see their
cost: h11 validates every header the client sends, and the metadata value is ~420 bytes).
``--post N`` sends POSTs with an N-byte body instead (a ``Content-Length`` header).

Latency is ``time.perf_counter`` around each request (the body is read). Client CPU per
request is this process's CPU time (``time.process_time``) over a round divided by its
requests. Rounds interleave the clients (raw, inmesh, inmesh+policy, then the next round
starts one client later: inmesh, inmesh+policy, raw, ...) so that drift on the machine,
such as other work starting, hits all of them alike; each round starts with 50 unmeasured
requests. The absolute figures are over every request of every round (CPU: the median
round); each ratio is the median over rounds of that round's mesh figure over the same
round's raw figure (paired, so that a burst of other work on the machine cancels out), with
its range over rounds below. Budget: each inmesh column at most 1.10x raw httpx on p50
latency and on CPU per request (p99 is reported, not budgeted). ``--quick``: 500 requests x
4 rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from _common import (
    Doc,
    Servers,
    destination_rule,
    machine,
    pct,
    service_entry,
    table,
    virtual_service,
    workload_entries,
)

import inmesh

BUDGET = 1.10
WARMUP = 50
HEADERS = {"end-user": "mary"}  # the header route does not match: weighted v1/v2 split
#: GET without a body; ``--post N``: POST with an N-byte body (``Content-Length``)
METHOD = "GET"
BODY: bytes | None = None
VERSIONS = ["v1", "v1", "v1", "v2"]

# The full resilience policy, on a healthy backend: nothing in it ever fires.
ROUTE_POLICY: Doc = {
    "timeout": "5s",
    "retries": {"attempts": 3, "perTryTimeout": "2s", "retryOn": "5xx"},
}
CONNECTION_POOL: Doc = {
    "tcp": {"maxConnections": 100, "connectTimeout": "1s"},
    "http": {
        "http1MaxPendingRequests": 1000,
        "http2MaxRequests": 1000,
        "maxRetries": 10,
        "idleTimeout": "60s",
    },
}
OUTLIER_DETECTION: Doc = {
    "consecutive5xxErrors": 5,
    "interval": "1s",
    "baseEjectionTime": "30s",
    "maxEjectionPercent": 100,
}


def mesh_config(ports: list[int], *, policy: bool) -> list[Doc]:
    """The foundation's configuration; with ``policy``, plus the full resilience policy."""
    route_extra = ROUTE_POLICY if policy else {}
    traffic: Doc = {"loadBalancer": {"simple": "LEAST_REQUEST"}}
    if policy:
        traffic |= {"connectionPool": CONNECTION_POOL, "outlierDetection": OUTLIER_DETECTION}
    return [
        service_entry(),
        destination_rule(traffic, subsets=["v1", "v2"]),
        virtual_service(
            [
                {
                    "match": [{"headers": {"end-user": {"exact": "jason"}}}],
                    "route": [{"destination": {"host": "bench", "subset": "v2"}}],
                    **route_extra,
                },
                {
                    "route": [
                        {"destination": {"host": "bench", "subset": "v1"}, "weight": 90},
                        {"destination": {"host": "bench", "subset": "v2"}, "weight": 10},
                    ],
                    **route_extra,
                },
            ]
        ),
        *workload_entries(ports, VERSIONS),
    ]


@dataclass
class Series:
    """One client's measurements over every round."""

    name: str
    rounds: list[list[float]] = field(default_factory=list)  # latencies, one list per round
    cpu_per_request: list[float] = field(default_factory=list)  # one per round

    def add(self, latencies: list[float], cpu: float) -> None:
        self.rounds.append(latencies)
        self.cpu_per_request.append(cpu)

    @property
    def latencies(self) -> list[float]:
        return [x for r in self.rounds for x in r]

    def p50s(self) -> list[float]:
        return [pct(r, 0.5) for r in self.rounds]

    def p99s(self) -> list[float]:
        return [pct(r, 0.99) for r in self.rounds]


def _check(r: httpx.Response, url: str) -> None:
    if r.status_code != 200:
        raise SystemExit(f"unexpected status {r.status_code} from {url}")


async def measure_async(client: httpx.AsyncClient, url: str, n: int) -> tuple[list[float], float]:
    """``n`` sequential requests (GETs; POSTs with ``--post``): each latency, and the CPU
    time per request."""
    for _ in range(WARMUP):
        _check(await client.request(METHOD, url, headers=HEADERS, content=BODY), url)
    lat: list[float] = []
    clock = time.perf_counter
    cpu0 = time.process_time()
    for _ in range(n):
        t0 = clock()
        r = await client.request(METHOD, url, headers=HEADERS, content=BODY)
        lat.append(clock() - t0)
        _check(r, url)
    return lat, (time.process_time() - cpu0) / n


def measure_sync(client: httpx.Client, url: str, n: int) -> tuple[list[float], float]:
    """The same as :func:`measure_async`, with the sync client."""
    for _ in range(WARMUP):
        _check(client.request(METHOD, url, headers=HEADERS, content=BODY), url)
    lat: list[float] = []
    clock = time.perf_counter
    cpu0 = time.process_time()
    for _ in range(n):
        t0 = clock()
        r = client.request(METHOD, url, headers=HEADERS, content=BODY)
        lat.append(clock() - t0)
        _check(r, url)
    return lat, (time.process_time() - cpu0) / n


def _order(round_number: int, n: int) -> list[int]:
    """Round i starts with client i mod n: each client follows each other one equally often."""
    return [(round_number + k) % n for k in range(n)]


def meshes(ports: list[int], *, exchange: bool = True) -> tuple[inmesh.Mesh, inmesh.Mesh]:
    foundation = inmesh.Mesh(service="bench-client", config=mesh_config(ports, policy=False))
    full = inmesh.Mesh(service="bench-client", config=mesh_config(ports, policy=True))
    for mesh in (foundation, full):  # metrics are on by default, as in a sidecar
        assert mesh.hooks, "the default metrics hook is missing"
        if not exchange:  # a measuring tool's switch, not an API: the state is private
            mesh._state.exchange = ()
    return foundation, full


async def run_async(
    ports: list[int], requests: int, rounds: int, *, exchange: bool = True
) -> list[Series]:
    foundation, full = meshes(ports, exchange=exchange)
    series = [Series("raw httpx"), Series("inmesh"), Series("inmesh+policy")]
    raw_url = f"http://127.0.0.1:{ports[0]}/"
    async with httpx.AsyncClient() as raw, foundation.client() as m1, full.client() as m2:
        plan = [(raw, raw_url), (m1, "http://bench/"), (m2, "http://bench/")]
        for i in range(rounds):
            for j in _order(i, len(plan)):
                series[j].add(*await measure_async(*plan[j], requests))
    return series


def run_sync(
    ports: list[int], requests: int, rounds: int, *, exchange: bool = True
) -> list[Series]:
    foundation, full = meshes(ports, exchange=exchange)
    series = [Series("raw httpx"), Series("inmesh"), Series("inmesh+policy")]
    raw_url = f"http://127.0.0.1:{ports[0]}/"
    with httpx.Client() as raw, foundation.sync_client() as m1, full.sync_client() as m2:
        plan = [(raw, raw_url), (m1, "http://bench/"), (m2, "http://bench/")]
        for i in range(rounds):
            for j in _order(i, len(plan)):
                series[j].add(*measure_sync(*plan[j], requests))
    return series


def _paired(mesh: list[float], raw: list[float]) -> list[float]:
    return [m / r for m, r in zip(mesh, raw, strict=True)]


def report(series: list[Series], *, requests: int, rounds: int, mode: str) -> None:
    raw, *meshed = series
    metrics: list[tuple[str, Callable[[Series], float], Callable[[Series], list[float]]]] = [
        ("p50 latency (us)", lambda s: pct(s.latencies, 0.50), Series.p50s),
        ("p99 latency (us)", lambda s: pct(s.latencies, 0.99), Series.p99s),
        (
            "client CPU/request (us)",
            lambda s: statistics.median(s.cpu_per_request),
            lambda s: s.cpu_per_request,
        ),
    ]
    header = ["", raw.name]
    for s in meshed:
        header += [s.name, "ratio", "range"]
    rows: list[list[Any]] = []
    verdicts: dict[str, list[str]] = {s.name: [] for s in meshed}
    for name, overall, per_round in metrics:
        row: list[Any] = [name, overall(raw) * 1e6]
        for s in meshed:
            ratios = _paired(per_round(s), per_round(raw))
            ratio = statistics.median(ratios)
            row += [overall(s) * 1e6, f"{ratio:.3f}", f"{min(ratios):.2f}-{max(ratios):.2f}"]
            if not name.startswith("p99") and ratio > BUDGET:
                verdicts[s.name].append(name)
        rows.append(row)
    print(f"{requests} requests x {rounds} rounds, sequential, {mode} client, loopback")
    print(f"machine: {machine()}")
    print(table(header, rows))
    for s in meshed:
        over = verdicts[s.name]
        verdict = (
            f"within budget ({BUDGET:.2f}x on p50 and CPU)"
            if not over
            else f"OVER BUDGET ({BUDGET:.2f}x): {', '.join(over)}"
        )
        print(f"{s.name}: {verdict}")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000, help="per client per round")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--sync", action="store_true", help="measure httpx.Client instead")
    ap.add_argument("--quick", action="store_true", help="500 requests x 4 rounds")
    ap.add_argument(
        "--no-exchange",
        action="store_true",
        help="the mesh clients without the metadata exchange headers (to see their cost)",
    )
    ap.add_argument(
        "--post",
        type=int,
        metavar="N",
        help="POSTs with an N-byte body (a Content-Length header) instead of GETs",
    )
    a = ap.parse_args()
    if a.post is not None:
        global METHOD, BODY
        METHOD, BODY = "POST", b"x" * a.post
    exchange = not a.no_exchange
    requests, rounds = (500, 4) if a.quick else (a.requests, a.rounds)
    with Servers([0.0] * len(VERSIONS)) as servers:
        if a.sync:
            series = run_sync(servers.ports, requests, rounds, exchange=exchange)
        else:
            series = asyncio.run(run_async(servers.ports, requests, rounds, exchange=exchange))
    mode = ("sync" if a.sync else "async") + ("" if exchange else ", no exchange headers")
    if BODY is not None:
        mode += f", POST {len(BODY)} bytes"
    report(series, requests=requests, rounds=rounds, mode=mode)
    sys.exit(0)


if __name__ == "__main__":
    main()
