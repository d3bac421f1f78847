"""Where the mesh's time per request goes, for whoever works on the hot path.

    .venv/bin/python benchmarks/mesh_profile.py [--quick] [--requests 4000] [--sync]

Three parts, each printed as a table:

1. ``stages``: the mesh's pure per-request work, no I/O: ``RouteTier.start`` (request view,
   ``Snapshot.decide``, the Call), ``Call.next_attempt`` (balancer pick, the httpcore request),
   ``on_response``, ``response_headers`` and ``finish``, in microseconds per request (best of
   5 repeats of ``timeit``), for the foundation's configuration and the full policy of
   ``overhead.py``; building the ``httpx.Request`` is shown as the yardstick. Uses private
   internals (``inmesh.outbound``): a tool for the hot path, not an API example.
2. ``profile``: cProfile of sequential requests over loopback (``_server.py``), raw httpx
   against inmesh+policy, as the extra time and extra calls per request by function
   (``tottime``; socket send/recv and poll are left out: their time is mostly waiting on
   the server). cProfile slows everything down about threefold, so use the figures to
   rank, not as absolute costs.
3. ``endpoints``: client CPU per request (``time.process_time``, no profiler) with 1, 3, 10
   and 30 endpoints behind one ROUND_ROBIN cluster, against raw httpx to one port, rounds
   interleaved. The mesh's own work does not depend on the number of endpoints, so any
   growth here is in the connection pool.

``--quick``: fewer requests (1000), endpoints 1, 3 and 10 only.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from typing import Any

import httpx
from _common import Servers, destination_rule, machine, service_entry, table, workload_entries
from overhead import HEADERS, VERSIONS, mesh_config

import inmesh
from inmesh.outbound import RouteTier  # the pure path, measured without I/O

# Time spent waiting in these system calls is the other process's, not ours: left out.
_IO_CALLS = ("'send' of '_socket", "'recv' of '_socket", "'recv_into' of '_socket", "'poll' of")
RAW_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"12")]
Client = httpx.Client | httpx.AsyncClient


# -- 1. stages -------------------------------------------------------------------------------


def _stage_timings(outbound: RouteTier, builder: httpx.Client) -> dict[str, float]:
    """Microseconds per request of each cumulative stage of the pure path."""

    def build() -> httpx.Request:
        return builder.build_request("GET", "http://bench/", headers=HEADERS)

    def start_finish() -> None:
        call, _ = outbound.start(build())
        assert not isinstance(call, httpx.Response)
        call.finish(200)

    def start_send() -> None:
        call, _ = outbound.start(build())
        assert not isinstance(call, httpx.Response)
        call.next_attempt()
        call.finish(200)

    def everything() -> None:
        call, _ = outbound.start(build())
        assert not isinstance(call, httpx.Response)
        call.next_attempt()
        call.on_response(200, RAW_HEADERS)
        call.response_headers(RAW_HEADERS)
        call.finish(200)

    steps: list[tuple[str, Callable[[], object]]] = [
        ("httpx build_request (yardstick)", build),
        ("+ RouteTier.start + Call.finish", start_finish),
        ("+ Call.next_attempt", start_send),
        ("+ on_response + response_headers", everything),
    ]
    out = {}
    for name, fn in steps:
        fn()
        out[name] = min(timeit.repeat(fn, number=5000, repeat=5)) / 5000 * 1e6
    return out


def stages() -> None:
    ports = [10001, 10002, 10003, 10004]  # never contacted: no I/O here
    builder = httpx.Client()
    columns = [
        _stage_timings(
            RouteTier(
                inmesh.Mesh(service="bench-client", config=mesh_config(ports, policy=p))._state
            ),
            builder,
        )
        for p in (False, True)
    ]
    names = list(columns[0])
    rows: list[list[Any]] = [[n, columns[0][n], columns[1][n]] for n in names]
    rows.append(
        ["mesh's own pure work", *(c[names[-1]] - c[names[0]] for c in columns)],
    )
    print("1. pure per-request work, no I/O (us per request, cumulative)")
    print(table(["", "inmesh", "inmesh+policy"], rows))


# -- 2. profile ------------------------------------------------------------------------------


def _profile(client: Client, url: str, n: int) -> pstats.Stats:
    prof = cProfile.Profile()
    if isinstance(client, httpx.Client):
        for _ in range(200):
            client.get(url, headers=HEADERS)
        prof.enable()
        for _ in range(n):
            client.get(url, headers=HEADERS)
        prof.disable()
        client.close()
    else:

        async def go(c: httpx.AsyncClient) -> None:
            for _ in range(200):
                await c.get(url, headers=HEADERS)
            prof.enable()
            for _ in range(n):
                await c.get(url, headers=HEADERS)
            prof.disable()
            await c.aclose()

        asyncio.run(go(client))
    return pstats.Stats(prof)


def _by_function(st: pstats.Stats, n: int) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    raw: dict[Any, Any] = st.stats  # type: ignore[attr-defined]
    for (file, line, fn), (_cc, calls, tottime, _ct, _callers) in raw.items():
        short = file.split("site-packages/")[-1].split("/src/")[-1].split("/lib/python3")[-1]
        out[f"{short}:{line}({fn})"] = (tottime / n * 1e6, calls / n)
    return out


def profile(requests: int, sync: bool, top: int = 25) -> None:
    with Servers([0.0] * len(VERSIONS)) as servers:
        mesh = inmesh.Mesh(service="bench-client", config=mesh_config(servers.ports, policy=True))
        raw_url = f"http://127.0.0.1:{servers.ports[0]}/"
        if sync:
            raw = _profile(httpx.Client(), raw_url, requests)
            meshed = _profile(mesh.sync_client(), "http://bench/", requests)
        else:
            raw = _profile(httpx.AsyncClient(), raw_url, requests)
            meshed = _profile(mesh.client(), "http://bench/", requests)
    a, b = _by_function(raw, requests), _by_function(meshed, requests)
    diff = []
    for key in a.keys() | b.keys():
        if any(io in key for io in _IO_CALLS):
            continue
        (ta, ca), (tb, cb) = a.get(key, (0.0, 0.0)), b.get(key, (0.0, 0.0))
        diff.append((tb - ta, ca, cb, key))
    diff.sort(reverse=True)
    total_a, total_b = sum(t for t, _ in a.values()), sum(t for t, _ in b.values())
    print(
        f"\n2. cProfile, {'sync' if sync else 'async'}, {requests} requests: inmesh+policy minus "
        f"raw httpx by function (profiled totals {total_a:.0f} and {total_b:.0f} us/request)"
    )
    rows = [[k, f"{d:+.2f}", f"{ca:.1f}", f"{cb:.1f}"] for d, ca, cb, k in diff[:top]]
    print(table(["function", "extra us/req", "calls raw", "calls mesh"], rows))


# -- 3. endpoints ----------------------------------------------------------------------------


def _cpu_sync(client: httpx.Client, url: str, n: int) -> float:
    for _ in range(100):
        client.get(url)
    t = time.process_time()
    for _ in range(n):
        client.get(url)
    return (time.process_time() - t) / n


async def _cpu_async(client: httpx.AsyncClient, url: str, n: int) -> float:
    for _ in range(100):
        await client.get(url)
    t = time.process_time()
    for _ in range(n):
        await client.get(url)
    return (time.process_time() - t) / n


def endpoints(requests: int, counts: list[int], sync: bool, rounds: int = 3) -> None:
    with Servers([0.0] * max(counts)) as servers:
        clients: dict[str, tuple[Client, str]] = {
            "raw httpx, 1 port": (
                httpx.Client() if sync else httpx.AsyncClient(),
                f"http://127.0.0.1:{servers.ports[0]}/",
            )
        }
        for k in counts:
            mesh = inmesh.Mesh(
                service="bench-client",
                config=[
                    service_entry(),
                    destination_rule({"loadBalancer": {"simple": "ROUND_ROBIN"}}),
                    *workload_entries(servers.ports[:k]),
                ],
            )
            name = f"inmesh, {k} endpoint{'s' if k > 1 else ''}"
            clients[name] = (mesh.sync_client() if sync else mesh.client(), "http://bench/")
        cpu: dict[str, list[float]] = {name: [] for name in clients}

        async def measure_all() -> None:
            for _ in range(rounds):
                for name, (c, url) in clients.items():
                    if isinstance(c, httpx.Client):
                        cpu[name].append(_cpu_sync(c, url, requests))
                    else:
                        cpu[name].append(await _cpu_async(c, url, requests))
            for c, _ in clients.values():
                if isinstance(c, httpx.Client):
                    c.close()
                else:
                    await c.aclose()

        asyncio.run(measure_all())
    base = statistics.median(cpu["raw httpx, 1 port"])
    rows = [
        [name, statistics.median(xs) * 1e6, f"{statistics.median(xs) / base:.2f}"]
        for name, xs in cpu.items()
    ]
    print(
        f"\n3. client CPU per request by endpoints in the cluster ({'sync' if sync else 'async'})"
    )
    print(table(["", "CPU/request (us)", "ratio"], rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--sync", action="store_true", help="profile the sync client")
    ap.add_argument("--quick", action="store_true", help="1000 requests; 1, 3, 10 endpoints")
    a = ap.parse_args()
    requests = 1000 if a.quick else a.requests
    counts = [1, 3, 10] if a.quick else [1, 3, 10, 30]
    print(f"machine: {machine()}")
    stages()
    profile(requests, a.sync)
    endpoints(max(500, requests // 2), counts, a.sync)
    sys.exit(0)


if __name__ == "__main__":
    main()
