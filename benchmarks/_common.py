"""What the benchmarks share: loopback server processes, Istio resources, statistics, tables.

Not a benchmark itself. Every server listens on 127.0.0.1 only, and :class:`Servers` is a
context manager that leaves no process behind (stdin closed, then SIGKILL after a grace
period); a server also exits by itself when the benchmark that started it dies, because
its stdin closes.
"""

from __future__ import annotations

import contextlib
import glob
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from types import TracebackType
from typing import Any

HERE = Path(__file__).resolve().parent
HOST = "bench"
FQDN = "bench.default.svc.cluster.local"
Doc = dict[str, Any]


# -- servers --------------------------------------------------------------------------------


class Servers:
    """Benchmark servers (``_server.py``) on 127.0.0.1, one port per endpoint.

    ``delays_ms[i]`` is how long endpoint i waits before answering. With
    ``process_per_endpoint`` each endpoint is its own process, so :meth:`kill` can SIGKILL
    one; otherwise one process listens on every port (less CPU spent on the server side).
    """

    def __init__(
        self,
        delays_ms: Sequence[float],
        *,
        process_per_endpoint: bool = False,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.delays_ms = list(delays_ms)
        self._extra = list(extra_args)
        self.ports: list[int] = []
        self._procs: list[subprocess.Popen[str]] = []
        self._owner: list[int] = []  # endpoint index -> index in _procs
        self._per_endpoint = process_per_endpoint

    def __enter__(self) -> Servers:
        try:
            groups = [[d] for d in self.delays_ms] if self._per_endpoint else [list(self.delays_ms)]
            for group in groups:
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        str(HERE / "_server.py"),
                        str(len(group)),
                        "--delays-ms",
                        ",".join(str(d) for d in group),
                        *self._extra,
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                self._procs.append(proc)
                assert proc.stdout is not None
                line = proc.stdout.readline()
                if not line:
                    raise RuntimeError("benchmark server did not start")
                ports = [int(p) for p in line.split()]
                self.ports += ports
                self._owner += [len(self._procs) - 1] * len(ports)
            for port in self.ports:
                wait_listening(port)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def key(self, i: int) -> str:
        """Endpoint i as the mesh names it (``address:port``)."""
        return f"127.0.0.1:{self.ports[i]}"

    def kill(self, i: int) -> None:
        """SIGKILL the process serving endpoint i (only with ``process_per_endpoint``)."""
        if not self._per_endpoint:
            raise RuntimeError("kill needs one process per endpoint")
        proc = self._procs[self._owner[i]]
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def close(self) -> None:
        """Stop every server: close stdin (they exit), SIGKILL any still up after 5 s."""
        for proc in self._procs:
            if proc.stdin is not None and not proc.stdin.closed:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
        for proc in self._procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        self._procs = []


def wait_listening(port: int, timeout: float = 10.0) -> None:
    """Until a server on 127.0.0.1:``port`` accepts connections (it binds before it
    listens)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"benchmark server on port {port} never listened") from None
            time.sleep(0.02)


# -- Istio resources -----------------------------------------------------------------------


def service_entry() -> Doc:
    """Service ``bench`` (port 80), its endpoints selected from WorkloadEntries."""
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": "bench"},
        "spec": {
            "hosts": [FQDN],
            "location": "MESH_INTERNAL",
            "resolution": "STATIC",
            "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
            "workloadSelector": {"labels": {"app": "bench"}},
        },
    }


def workload_entries(ports: Sequence[int], versions: Sequence[str] | None = None) -> list[Doc]:
    """One WorkloadEntry per port on 127.0.0.1 (``version`` label from ``versions``)."""
    return [
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "WorkloadEntry",
            "metadata": {"name": f"bench-{i}"},
            "spec": {
                "address": "127.0.0.1",
                "ports": {"http": port},
                "labels": {"app": "bench", "version": versions[i] if versions else "v1"},
            },
        }
        for i, port in enumerate(ports)
    ]


def destination_rule(traffic_policy: Doc, subsets: Sequence[str] = ()) -> Doc:
    spec: Doc = {"host": HOST, "trafficPolicy": traffic_policy}
    if subsets:
        spec["subsets"] = [{"name": s, "labels": {"version": s}} for s in subsets]
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": "bench"},
        "spec": spec,
    }


def virtual_service(http: list[Doc]) -> Doc:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "bench"},
        "spec": {"hosts": [HOST], "http": http},
    }


# -- statistics and output -------------------------------------------------------------------


def pct(xs: Sequence[float], q: float) -> float:
    """The q-quantile of ``xs`` (nearest rank; q in [0, 1])."""
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    cells = [[str(c) for c in header], *[[_cell(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for n, r in enumerate(cells):
        first = r[0].ljust(widths[0])
        rest = "  ".join(c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True))
        lines.append(f"{first}  {rest}".rstrip())
        if n == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


def _cell(c: object) -> str:
    if isinstance(c, float):
        return f"{c:.3f}" if abs(c) < 10 else f"{c:.1f}"
    return str(c)


def machine() -> str:
    """One line describing where the figures come from."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs, load average {load}; Python {platform.python_version()}, "
        f"httpx {version('httpx')}, httpcore {version('httpcore')}"
    )


def callgrind_totals(out: str, requests: int) -> dict[str, float]:
    """Per request, each event callgrind counted in its files ``out.*`` (``--callgrind-out-
    file=out`` with ``%p``-style suffixes): the largest thread's totals (its main thread)."""
    events: list[str] = []
    totals = [0]
    for name in glob.glob(out + ".*"):
        with open(name) as f:
            for line in f:
                if line.startswith("events:"):
                    events = line.split()[1:]
                elif line.startswith(("totals:", "summary:")):
                    found = [int(x) for x in line.split()[1:]]
                    totals = found if found[0] > totals[0] else totals
    return {e: t / requests for e, t in zip(events, totals, strict=False)}
