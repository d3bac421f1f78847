"""What inmesh costs a process before and after its first request: import time and memory.

    .venv/bin/python benchmarks/footprint.py [--rounds 7]

Every figure comes from a fresh subprocess (nothing is shared with this one):

- **import**: ``python -X importtime -c "import inmesh; from inmesh import Mesh"`` (the
  package loads the Mesh on first use) against ``import httpx``: the total of the
  top-level imports, and inmesh's heaviest imports by cumulative time in the median round.
- **memory**: the resident set (``VmRSS`` of ``/proc/self/status``; the peak, ``VmHWM``, as
  well) of a process that made one GET through a ``Mesh`` of 3 services (each a
  ServiceEntry with a workloadSelector, 2 WorkloadEntries, a VirtualService with a retry
  policy and a DestinationRule with 2 subsets and a connection pool; the endpoints are ports
  of a loopback server this benchmark starts) and a mesh client, against one that made the
  same GET with a bare ``httpx.Client()``.

Rounds interleave the two sides (httpx, then inmesh; the next round the other way round), so
that drift on the machine hits both alike; the figures are medians over rounds. Budget
(issue 7): ``import inmesh`` at most 250 ms, and the mesh process at most +12 MB RSS over
bare httpx.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
from typing import Any

from _common import Servers, machine, table

IMPORT_BUDGET_MS = 250.0
RSS_BUDGET_MB = 12.0

_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")

# The child that measures memory: argv = [side, port, port, ...]; prints a JSON line.
_CHILD = r"""
import json, sys

def rss():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    return out

side, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
import httpx
if side == "httpx":
    with httpx.Client() as client:
        status = client.get(f"http://127.0.0.1:{ports[0]}/").status_code
else:
    import inmesh
    docs = []
    for i, name in enumerate(("alpha", "beta", "gamma")):
        fqdn = f"{name}.default.svc.cluster.local"
        docs.append({"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
            "metadata": {"name": name}, "spec": {"hosts": [fqdn], "location": "MESH_INTERNAL",
            "resolution": "STATIC", "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
            "workloadSelector": {"labels": {"app": name}}}})
        for j, version in enumerate(("v1", "v2")):
            docs.append({"apiVersion": "networking.istio.io/v1", "kind": "WorkloadEntry",
                "metadata": {"name": f"{name}-{version}"}, "spec": {"address": "127.0.0.1",
                "ports": {"http": ports[(2 * i + j) % len(ports)]},
                "labels": {"app": name, "version": version}}})
        docs.append({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": name}, "spec": {"host": name,
            "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 100}},
                              "loadBalancer": {"simple": "LEAST_REQUEST"}},
            "subsets": [{"name": v, "labels": {"version": v}} for v in ("v1", "v2")]}})
        docs.append({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": name}, "spec": {"hosts": [name], "http": [{"route": [
                {"destination": {"host": name, "subset": "v1"}, "weight": 90},
                {"destination": {"host": name, "subset": "v2"}, "weight": 10}],
                "timeout": "5s", "retries": {"attempts": 2, "retryOn": "5xx"}}]}})
    mesh = inmesh.Mesh(service="footprint", config=docs)
    with mesh, mesh.sync_client() as client:
        status = client.get("http://alpha/").status_code
print(json.dumps({"status": status, **rss()}))
"""


#: what each side imports: for inmesh, the package and its Mesh (``import inmesh`` alone
#: loads the Mesh on first use, PEP 562; a process that uses inmesh pays for both)
_STATEMENTS = {"httpx": "import httpx", "inmesh": "import inmesh; from inmesh import Mesh"}


def import_times(module: str) -> tuple[float, list[tuple[str, float]]]:
    """(total ms of importing ``module`` as a user of it does: every top-level import the
    statement makes, [(submodule, cumulative ms)] heaviest first)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", _STATEMENTS[module]],
        capture_output=True,
        text=True,
        check=True,
    )
    total = 0.0
    parts: list[tuple[str, float]] = []
    for line in proc.stderr.splitlines():
        m = _IMPORT_LINE.match(line)
        if m is None:
            continue
        cumulative_ms, name = int(m.group(2)) / 1000, m.group(4)
        if len(m.group(3)) <= 1:  # a top-level import of the statement (the rest nest)
            total += cumulative_ms
        if name != module:
            parts.append((name, cumulative_ms))
    parts.sort(key=lambda p: -p[1])
    return total, parts


def memory(side: str, ports: list[int]) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, side, *map(str, ports)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{side} child failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["status"] != 200:
        raise RuntimeError(f"{side}: the request answered {result['status']}")
    return {"rss": float(result["VmRSS"]), "peak": float(result["VmHWM"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    args = ap.parse_args()
    imports: dict[str, list[float]] = {"httpx": [], "inmesh": []}
    top: list[list[tuple[str, float]]] = []
    mem: dict[str, list[dict[str, float]]] = {"httpx": [], "inmesh": []}
    with Servers([0.0] * 2) as servers:
        for r in range(args.rounds):
            order = ("httpx", "inmesh") if r % 2 == 0 else ("inmesh", "httpx")
            for side in order:
                total, parts = import_times(side)
                imports[side].append(total)
                if side == "inmesh":
                    top.append(parts)
                mem[side].append(memory(side, servers.ports))
    med = statistics.median
    print(f"footprint, {args.rounds} interleaved rounds (medians); {machine()}\n")
    rows = [
        [
            "import (ms)",
            med(imports["httpx"]),
            med(imports["inmesh"]),
            med(imports["inmesh"]) - med(imports["httpx"]),
            f"inmesh <= {IMPORT_BUDGET_MS:.0f}",
        ]
    ]
    for key, label in (("rss", "RSS after 1 request (MiB)"), ("peak", "peak RSS (MiB)")):
        h, m = med([x[key] for x in mem["httpx"]]), med([x[key] for x in mem["inmesh"]])
        budget = f"+{RSS_BUDGET_MB:.0f}" if key == "rss" else ""
        rows.append([label, h, m, m - h, budget])
    print(table(["", "httpx", "inmesh", "difference", "budget"], rows))
    median_round = sorted(range(len(top)), key=lambda i: imports["inmesh"][i])[len(top) // 2]
    heaviest = [p for p in top[median_round] if p[0].count(".") <= 1][:12]
    print("\nheaviest imports under `import inmesh` (cumulative ms, median round):")
    print(table(["module", "ms"], [[name, ms] for name, ms in heaviest]))
    ok_import = med(imports["inmesh"]) <= IMPORT_BUDGET_MS
    extra = med([x["rss"] for x in mem["inmesh"]]) - med([x["rss"] for x in mem["httpx"]])
    ok_rss = extra <= RSS_BUDGET_MB
    print(
        f"\nimport budget {'met' if ok_import else 'MISSED'}; "
        f"RSS budget {'met' if ok_rss else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
