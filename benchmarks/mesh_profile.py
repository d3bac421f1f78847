"""Where the mesh's time per request goes, for whoever works on the hot path.

    .venv/bin/python benchmarks/mesh_profile.py [--quick] [--requests 4000] [--sync]
        [--only stages|shells|profile|endpoints ...]

Three parts, each printed as a table:

1. ``stages``: the mesh's pure per-request work, no I/O: ``RouteTier.start`` (request view,
   ``Snapshot.decide``, the Call), ``Call.next_attempt`` (balancer pick, the httpcore request),
   ``on_response``, ``response_headers`` and ``finish``, in microseconds per request over
   requests built beforehand (the best of 40 batches of 300), for the foundation's
   configuration and the full policy of ``overhead.py``; building the ``httpx.Request`` is
   shown as the yardstick. Uses private internals (``inmesh.outbound``): a tool for the hot
   path, not an API example.
1b. ``shells``: the whole ``client.get`` with a canned answer in place of the connection
   pool, sync and async, raw httpx against the mesh (best of 30 batches of 300): the
   shells' and httpx's work around the pure path, without h11 or sockets.
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
import gc
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import httpcore
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


def _best(fn: Callable[[httpx.Request], object], make: Callable[[], httpx.Request]) -> float:
    """Microseconds per request of ``fn`` over fresh requests (built outside the timing),
    the best of many short batches: on a shared machine a long batch is seldom left alone,
    a short one often is (what ``timeit`` does, in batches of 300: the garbage collector
    off while timing)."""
    best = float("inf")
    for _ in range(_BATCHES):
        reqs = [make() for _ in range(_BATCH)]
        gc.collect()
        gc.disable()
        try:
            t = time.perf_counter()
            for r in reqs:
                fn(r)
            best = min(best, (time.perf_counter() - t) / _BATCH)
        finally:
            gc.enable()
    return best * 1e6


_BATCH, _BATCHES = 300, 40


def _stage_timings(outbound: RouteTier, builder: httpx.Client) -> dict[str, float]:
    """Microseconds per request of each cumulative stage of the pure path."""

    def build() -> httpx.Request:
        return builder.build_request("GET", "http://bench/", headers=HEADERS)

    def start_finish(r: httpx.Request) -> None:
        call, _ = outbound.start(r)
        assert not isinstance(call, httpx.Response)
        call.finish(200)

    def start_send(r: httpx.Request) -> None:
        call, _ = outbound.start(r)
        assert not isinstance(call, httpx.Response)
        call.next_attempt()
        call.finish(200)

    def everything(r: httpx.Request) -> None:
        call, _ = outbound.start(r)
        assert not isinstance(call, httpx.Response)
        call.next_attempt()
        call.on_response(200, RAW_HEADERS)
        call.response_headers(RAW_HEADERS)
        call.finish(200)

    steps: list[tuple[str, Callable[[httpx.Request], object]]] = [
        ("RouteTier.start + Call.finish", start_finish),
        ("+ Call.next_attempt", start_send),
        ("+ on_response + response_headers", everything),
    ]
    out = {"httpx build_request (yardstick)": _best(lambda _: build(), build)}
    for name, fn in steps:
        fn(build())
        out[name] = _best(fn, build)
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
    rows.append(["mesh's own pure work", *(c[names[-1]] for c in columns)])
    print("1. pure per-request work, no I/O (us per request, cumulative; requests prebuilt)")
    print(table(["", "inmesh", "inmesh+policy"], rows))


# -- 1b. shells ------------------------------------------------------------------------------


_CANNED = [
    (b"content-type", b"application/json"),
    (b"content-length", b"12"),
    (b"server", b"uvicorn"),
]


class _CannedPool:
    """An httpcore pool that answers at once: the whole client path without I/O."""

    def handle_request(self, request: Any) -> httpcore.Response:
        return httpcore.Response(200, headers=_CANNED, content=b'{"ok": true}')

    async def handle_async_request(self, request: Any) -> httpcore.Response:
        return httpcore.Response(200, headers=_CANNED, content=b'{"ok": true}')


def shells(batches: int = 30, n: int = 300) -> None:
    """The whole client path (``client.get``, the body read) with a canned answer instead
    of I/O: raw httpx with the same canned pool, and the mesh's transports. What the shells
    add on top of the pure work shows here (and what httpx does around the transport, the
    same for both); h11 and the sockets do not."""
    canned = _CannedPool()
    ports = [10001, 10002, 10003, 10004]
    clients: dict[str, tuple[httpx.Client, httpx.AsyncClient, str]] = {}
    raw_sync, raw_async = httpx.Client(), httpx.AsyncClient()
    raw_transports: list[Any] = [raw_sync._transport, raw_async._transport]
    for transport in raw_transports:
        transport._pool = canned
    clients["raw httpx"] = (raw_sync, raw_async, "http://127.0.0.1:10001/")
    for name, policy in (("inmesh", False), ("inmesh+policy", True)):
        mesh = inmesh.Mesh(service="bench-client", config=mesh_config(ports, policy=policy))
        sync_c, async_c = mesh.sync_client(), mesh.client()
        transports: list[Any] = [sync_c._transport, async_c._transport]
        for transport in transports:
            transport._pools.get = lambda ex: canned
        clients[name] = (sync_c, async_c, "http://bench/")
    best: dict[tuple[str, str], float] = {}

    async def run_async(c: httpx.AsyncClient, url: str) -> None:
        for _ in range(n):
            (await c.get(url, headers=HEADERS)).read()

    loop = asyncio.new_event_loop()
    for _ in range(batches):
        for name, (sync_c, async_c, url) in clients.items():
            for mode in ("sync", "async"):
                gc.collect()
                t = time.perf_counter()
                if mode == "sync":
                    for _ in range(n):
                        sync_c.get(url, headers=HEADERS).read()
                else:
                    loop.run_until_complete(run_async(async_c, url))
                us = (time.perf_counter() - t) / n * 1e6
                best[name, mode] = min(best.get((name, mode), us), us)
    loop.close()
    rows = [[name, best[name, "sync"], best[name, "async"]] for name in clients]
    for name in list(clients)[1:]:
        rows.append(
            [
                f"{name} - raw",
                best[name, "sync"] - best["raw httpx", "sync"],
                best[name, "async"] - best["raw httpx", "async"],
            ]
        )
    print("\n1b. whole client path, canned answers, no I/O (us per request, best batch)")
    print(table(["", "sync", "async"], rows))


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
    ap.add_argument(
        "--only",
        choices=["stages", "shells", "profile", "endpoints"],
        action="append",
        help="run only these parts (repeatable)",
    )
    a = ap.parse_args()
    requests = 1000 if a.quick else a.requests
    counts = [1, 3, 10] if a.quick else [1, 3, 10, 30]
    parts = set(a.only or ["stages", "shells", "profile", "endpoints"])
    print(f"machine: {machine()}")
    if "stages" in parts:
        stages()
    if "shells" in parts:
        shells()
    if "profile" in parts:
        profile(requests, a.sync)
    if "endpoints" in parts:
        endpoints(max(500, requests // 2), counts, a.sync)
    sys.exit(0)


if __name__ == "__main__":
    main()
