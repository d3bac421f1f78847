"""What ``tracing.py --counts N`` reads: figures of the outbound path that do not depend on
the machine's load, per request, for each client (raw httpx, inmesh, inmesh with
``overhead.py``'s full resilience policy, inmesh with tracing at 1%), sync and async.

Each client runs alone in a child process (``tracing.py --count-child``) that sends 300
unmeasured requests, ``gc.freeze()``s what it has, then waits on its stdin; the parent then
counts N requests of it three ways:

- **instructions** (valgrind's callgrind, instrumentation switched on with
  ``callgrind_control -i on`` for the N measured requests only), with callgrind's simulated
  L1/last-level cache misses and branch mispredictions: the same on an idle or a loaded
  machine;
- **Python calls** (cProfile's ncalls over N more requests, by function);
- **system calls** (``strace -c -f`` attached for N more requests);
- **Python bytecodes** by function (``sys.settrace`` opcode events over N more requests):
  where a column's Python work goes, which callgrind's view of the interpreter cannot say
  (in async, the event loop's share moves a little with how fast the server answers).

``INMESH_BENCH_VARIANT=no-trace-headers``: the trace context is decided and formatted but
none of its headers sent (the mesh's tracing work without the headers' cost downstream);
``INMESH_BENCH_KEEP=DIR``: callgrind's files kept there, for ``callgrind_annotate``.

Requests as in ``tracing.py``: every one sent while an inbound request is handled (an
``x-request-id`` and an undecided trace context in the middleware's contextvar).
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import glob
import json
import os
import pstats
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import httpx
from _common import callgrind_totals
from overhead import HEADERS, mesh_config

import inmesh

WARMUP = 300
COLUMNS = ["raw httpx", "inmesh", "inmesh+policy", "trace 1%"]
_ADDRESS = re.compile(r" at 0x[0-9a-f]+")
SIM_EVENTS = ("I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw", "Bc", "Bcm", "Bi", "Bim")


# -- the child: one client, driven by its stdin ----------------------------------------------


def _command() -> str:
    print("ready", flush=True)
    return sys.stdin.readline().strip()


def _profile_report(profile: cProfile.Profile, n: int) -> dict[str, Any]:
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    calls: dict[str, float] = {}
    for (path, line, name), entry in stats.items():
        # "<built-in method __new__ of type object at 0x7f...>": the address differs
        # between processes, so columns would not line up
        key = f"{path.rsplit('/', 1)[-1]}:{line}({_ADDRESS.sub('', name)})"
        calls[key] = calls.get(key, 0.0) + entry[1] / n
    return {"calls": calls}


def child(column: str, ports: list[int], requests: int, sync: bool) -> None:
    """Serve the parent's commands: ``go`` (N requests), ``profile`` (N requests under a
    cProfile that counts; its ncalls per request back as one JSON line), ``exit``."""
    from tracing import inbound, meshes

    variant = os.environ.get("INMESH_BENCH_VARIANT", "")
    if variant == "no-trace-headers":  # a measuring tool: the decision made, nothing sent
        import inmesh.telemetry._spans as spans

        setattr(spans, "format_headers", lambda ctx, b3=None: [])  # noqa: B010
    inbound()
    off, one, _ = meshes(ports)
    # overhead.py's inmesh+policy: timeout, retries, pool limits, outlier detection
    policy = inmesh.Mesh(
        service="bench-client", config=mesh_config(ports, policy=True), tracing=False
    )
    raw_url = f"http://127.0.0.1:{ports[0]}/"
    if sync:
        client: Any = {
            "raw httpx": httpx.Client,
            "inmesh": off.sync_client,
            "inmesh+policy": policy.sync_client,
        }.get(column, one.sync_client)()
        url = raw_url if column == "raw httpx" else "http://bench/"

        def run(n: int) -> None:
            for _ in range(n):
                client.get(url, headers=HEADERS).read()

        _serve(run, requests)
        client.close()
        return

    async def main() -> None:
        c: Any = {
            "raw httpx": httpx.AsyncClient,
            "inmesh": off.client,
            "inmesh+policy": policy.client,
        }.get(column, one.client)()
        url = raw_url if column == "raw httpx" else "http://bench/"
        async with c:
            loop_run: Callable[[int], Any] = lambda n: _requests_async(c, url, n)  # noqa: E731
            await _serve_async(loop_run, requests)

    asyncio.run(main())


async def _requests_async(client: httpx.AsyncClient, url: str, n: int) -> None:
    for _ in range(n):
        r = await client.get(url, headers=HEADERS)
        await r.aread()


class _Opcodes:
    """Python bytecodes executed, by function (``sys.settrace`` with opcode events): where
    the Python work of a request goes, deterministic, which callgrind's C-level view of
    the interpreter cannot say."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def trace(self, frame: Any, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        if event == "opcode":
            code = frame.f_code
            key = f"{code.co_filename.rsplit('/', 1)[-1]}:{code.co_firstlineno}({code.co_name})"
            self.counts[key] = self.counts.get(key, 0) + 1
        return self.trace

    def report(self, n: int) -> str:
        return json.dumps({"opcodes": {k: v / n for k, v in self.counts.items()}})


def _serve(run: Callable[[int], None], requests: int) -> None:
    run(WARMUP)
    gc.collect()
    gc.freeze()
    while (cmd := _command()) != "exit":
        if cmd == "go":
            run(requests)
        elif cmd == "profile":
            p = cProfile.Profile()
            p.enable()
            run(requests)
            p.disable()
            print(json.dumps(_profile_report(p, requests)), flush=True)
        elif cmd == "opcodes":
            ops = _Opcodes()
            sys.settrace(ops.trace)
            run(requests)
            sys.settrace(None)
            print(ops.report(requests), flush=True)


async def _serve_async(run: Callable[[int], Any], requests: int) -> None:
    await run(WARMUP)
    gc.collect()
    gc.freeze()
    while (cmd := _command()) != "exit":  # blocks the loop: nothing else runs meanwhile
        if cmd == "go":
            await run(requests)
        elif cmd == "profile":
            p = cProfile.Profile()
            p.enable()
            await run(requests)
            p.disable()
            print(json.dumps(_profile_report(p, requests)), flush=True)
        elif cmd == "opcodes":
            ops = _Opcodes()
            sys.settrace(ops.trace)
            await run(requests)
            sys.settrace(None)
            print(ops.report(requests), flush=True)


# -- the parent ------------------------------------------------------------------------------


class _Child:
    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def wait_ready(self) -> None:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            raise SystemExit(f"count child: expected 'ready', got {line!r}")

    def send(self, cmd: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def read_json(self) -> Any:
        assert self.proc.stdout is not None
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        try:
            self.send("exit")
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        try:
            self.proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _argv(column: str, ports: list[int], requests: int, sync: bool) -> list[str]:
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tracing.py")
    return [
        sys.executable,
        here,
        "--count-child",
        column,
        "--ports",
        ",".join(map(str, ports)),
        "--requests",
        str(requests),
    ] + (["--sync"] if sync else [])


def _instructions(column: str, ports: list[int], requests: int, sync: bool) -> dict[str, float]:
    out = os.path.join(tempfile.mkdtemp(prefix="inmesh-callgrind-"), "out")
    c = _Child(
        [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            "--cache-sim=yes",
            "--branch-sim=yes",
            f"--callgrind-out-file={out}.%p",
            *_argv(column, ports, requests, sync),
        ]
    )
    try:
        c.wait_ready()
        control = ["callgrind_control", "-i"]
        subprocess.run([*control, "on", str(c.proc.pid)], check=True, capture_output=True)
        c.send("go")
        c.wait_ready()
        subprocess.run([*control, "off", str(c.proc.pid)], check=True, capture_output=True)
    finally:
        c.close()
    figures = callgrind_totals(out, requests)
    keep = os.environ.get("INMESH_BENCH_KEEP")  # a directory: keep callgrind's files there
    if keep:
        os.makedirs(keep, exist_ok=True)
        tag = f"{column.replace(' ', '').replace('%', '')}-{'sync' if sync else 'async'}"
        for name in glob.glob(out + ".*"):
            shutil.copy(name, os.path.join(keep, f"callgrind.{tag}.{os.path.basename(name)}"))
    shutil.rmtree(os.path.dirname(out), ignore_errors=True)
    return figures


def _calls_and_syscalls(
    column: str, ports: list[int], requests: int, sync: bool
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    strace = shutil.which("strace")
    c = _Child(_argv(column, ports, requests, sync))
    syscalls: dict[str, float] = {}
    try:
        c.wait_ready()
        if strace is not None:
            trace_file = tempfile.mktemp(prefix="inmesh-strace-")
            tracer = subprocess.Popen(
                [strace, "-c", "-f", "-q", "-o", trace_file, "-p", str(c.proc.pid)],
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)  # attached
            c.send("go")
            c.wait_ready()
            tracer.send_signal(signal.SIGINT)
            tracer.wait(timeout=30)
            with open(trace_file) as f:
                for row in f:
                    parts = row.split()
                    if len(parts) >= 5 and parts[3].isdigit() and parts[-1] != "total":
                        syscalls[parts[-1]] = int(parts[3]) / requests
            os.unlink(trace_file)
        c.send("profile")
        calls: dict[str, float] = c.read_json()["calls"]
        c.wait_ready()
        c.send("opcodes")
        opcodes: dict[str, float] = c.read_json()["opcodes"]
        c.wait_ready()
    finally:
        c.close()
    # the child's own stdin read and "ready" write are in the strace window: 1 read, 1 write
    return calls, syscalls, opcodes


def _against(column: str, columns: list[str]) -> str | None:
    """The column a column's calls are compared with: inmesh against raw httpx, every mesh
    variant (policy, tracing) against plain inmesh when it was counted."""
    i = columns.index(column)
    if i == 0:
        return None
    if column not in ("raw httpx", "inmesh") and "inmesh" in columns:
        return "inmesh"
    return columns[i - 1]


def counts(
    ports: list[int],
    requests: int,
    sync: bool,
    *,
    callgrind: bool = True,
    columns: list[str] | None = None,
) -> None:
    """Print per-request instructions, Python calls and syscalls for each column (all of
    ``COLUMNS`` unless given, raw httpx always first), and the functions whose calls
    differ most from the column each is compared with (``_against``)."""
    columns = ["raw httpx"] + [c for c in (columns or COLUMNS) if c != "raw httpx"]
    if callgrind and (
        shutil.which("valgrind") is None or shutil.which("callgrind_control") is None
    ):
        raise SystemExit("--counts needs valgrind (apt-get install valgrind), or --no-callgrind")
    mode = "sync" if sync else "async"
    print(f"{requests} requests per client, {mode}, counted (load does not move these)")
    found: dict[str, dict[str, Any]] = {}
    for column in columns:
        calls, syscalls, opcodes = _calls_and_syscalls(column, ports, requests, sync)
        sim = _instructions(column, ports, requests, sync) if callgrind else {}
        found[column] = {
            "ir": sim.get("Ir", 0.0),
            "sim": sim,
            "calls": calls,
            "syscalls": syscalls,
            "opcodes": opcodes,
        }
    base = found[columns[0]]
    print(
        f"{'':13} {'instructions':>13} {'x raw':>7} {'py calls':>9} {'bytecodes':>10} "
        f"{'syscalls':>9}"
    )
    for column, f in found.items():
        print(
            f"{column:13} {f['ir']:13.0f} {f['ir'] / (base['ir'] or 1):7.3f} "
            f"{sum(f['calls'].values()):9.1f} {sum(f['opcodes'].values()):10.1f} "
            f"{sum(f['syscalls'].values()):9.1f}"
        )
    if callgrind:
        print("simulated per request (callgrind): L1 misses (I1mr D1mr D1mw), last-level misses")
        print("(ILmr DLmr DLmw), conditional and indirect branches and their mispredictions")
        for column, f in found.items():
            sim = f["sim"]
            print(f"  {column:13} " + " ".join(f"{e} {sim.get(e, 0):.0f}" for e in SIM_EVENTS))
    for column, f in found.items():
        print(
            f"  {column} syscalls: "
            + ", ".join(
                f"{k} {v:.2f}" for k, v in sorted(f["syscalls"].items(), key=lambda kv: -kv[1])
            )
        )
    for b in columns:
        a = _against(b, columns)
        if a is None:
            continue
        for what, limit in (("calls", 40), ("opcodes", 30)):
            ca, cb = found[a][what], found[b][what]
            diff = {k: cb.get(k, 0.0) - ca.get(k, 0.0) for k in set(ca) | set(cb)}
            top = sorted(
                (kv for kv in diff.items() if abs(kv[1]) >= 0.5), key=lambda kv: -abs(kv[1])
            )
            label = "calls" if what == "calls" else "bytecodes"
            print(f"{label} per request, {b} minus {a} ({sum(diff.values()):+.1f}):")
            for name, d in top[:limit]:
                print(f"  {d:+7.1f}  {name}")
