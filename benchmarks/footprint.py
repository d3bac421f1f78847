"""What inmesh costs a process before and after its first request: import time and memory.

    .venv/bin/python benchmarks/footprint.py [--rounds 7] [--before DIR]

Every figure comes from a fresh subprocess (nothing is shared with this one):

- **import**: ``python -X importtime -c "import inmesh; from inmesh import Mesh"`` (the
  package loads the Mesh on first use) against ``import httpx``: the total of the
  top-level imports, and inmesh's heaviest imports by cumulative time in the median round.
- **memory**: the resident set (``VmRSS`` of ``/proc/self/status``; the peak, ``VmHWM``, as
  well) of a process that made one GET through a ``Mesh`` of 3 services (each a
  ServiceEntry with a workloadSelector, 2 WorkloadEntries, a VirtualService with a retry
  policy and a DestinationRule with 2 subsets and a connection pool; the endpoints are ports
  of a loopback server this benchmark starts) and a mesh client, against one that made the
  same GET with a bare ``httpx.Client()``. The mesh process also reports its resident set
  after each step (``from inmesh import Mesh``, the Mesh built, the client's request), and
  a third process, the httpx one plus pydantic (``BaseModel`` imported, one small model
  validated), gives pydantic's own share: the part no change inside inmesh can remove
  while the configuration models are pydantic models.

inmesh's modules are byte-compiled before the first round (``compileall`` into their
``__pycache__``), as pip does when it installs a wheel: the other packages were compiled when
pip installed them, and where ``PYTHONDONTWRITEBYTECODE`` is set (this machine sets it) an
editable checkout would otherwise compile every inmesh module in every process, which costs
~60 ms of import and ~0.8 MiB of resident set that a user's install does not pay.

Rounds interleave the sides (the order turns each round), so that drift on the machine hits
them alike; the figures are medians over rounds, with their ranges. ``--before DIR`` measures
another inmesh source tree as well (``DIR`` holds its ``inmesh`` package, e.g.
``git archive main src | tar -x -C /tmp/before`` and ``--before /tmp/before/src``), in
the same rounds: before/after figures from one run. Budget (issue 7): ``import inmesh`` at
most 250 ms, and the mesh process at most +12 MiB RSS over bare httpx.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from _common import Servers, machine, table

IMPORT_BUDGET_MS = 250.0
RSS_BUDGET_MB = 12.0

_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")

# The child that measures memory: argv = [side, port, port, ...]; prints a JSON line with
# the resident set after each step ("steps") and at the end (VmRSS, VmHWM).
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

steps = []
side, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
import httpx
steps.append(["import httpx", rss()["VmRSS"]])
if side in ("httpx", "pydantic"):
    if side == "pydantic":
        from pydantic import BaseModel, ConfigDict
        class Probe(BaseModel):
            model_config = ConfigDict(defer_build=True, frozen=True)
            name: str
        Probe(name="probe")
        steps.append(["pydantic: BaseModel, one model validated", rss()["VmRSS"]])
    with httpx.Client() as client:
        status = client.get(f"http://127.0.0.1:{ports[0]}/").status_code
    steps.append(["httpx.Client(), one GET", rss()["VmRSS"]])
else:
    import inmesh
    from inmesh import Mesh
    steps.append(["from inmesh import Mesh", rss()["VmRSS"]])
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
    mesh = Mesh(service="footprint", config=docs)
    steps.append(["Mesh(config=...) built (pydantic, models, snapshot)", rss()["VmRSS"]])
    with mesh, mesh.sync_client() as client:
        status = client.get("http://alpha/").status_code
    steps.append(["mesh.sync_client(), one GET", rss()["VmRSS"]])
print(json.dumps({"status": status, "steps": steps, **rss()}))
"""


#: what each side imports: for inmesh, the package and its Mesh (``import inmesh`` alone
#: loads the Mesh on first use, PEP 562; a process that uses inmesh pays for both)
_STATEMENTS = {"httpx": "import httpx", "inmesh": "import inmesh; from inmesh import Mesh"}


def _env(src: str | None) -> dict[str, str] | None:
    """The child's environment: ``src`` (another inmesh tree) first on its path."""
    if src is None:
        return None
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])),
    }


def import_times(module: str, src: str | None = None) -> tuple[float, list[tuple[str, float]]]:
    """(total ms of importing ``module`` as a user of it does: every top-level import the
    statement makes, [(submodule, cumulative ms)] heaviest first)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", _STATEMENTS[module]],
        capture_output=True,
        text=True,
        check=True,
        env=_env(src),
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


def byte_compile(src: str | None) -> None:
    """Byte-compile the inmesh package of ``src`` (None: the installed one) into its
    ``__pycache__``, as pip does at install (see the module)."""
    if src is None:
        import importlib.util

        spec = importlib.util.find_spec("inmesh")
        assert spec is not None and spec.submodule_search_locations
        package = next(iter(spec.submodule_search_locations))
    else:
        package = os.path.join(src, "inmesh")
    subprocess.run([sys.executable, "-m", "compileall", "-q", package], check=True)


def memory(side: str, ports: list[int], src: str | None = None) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, side, *map(str, ports)],
        capture_output=True,
        text=True,
        env=_env(src),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{side} child failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["status"] != 200:
        raise RuntimeError(f"{side}: the request answered {result['status']}")
    return {"rss": float(result["VmRSS"]), "peak": float(result["VmHWM"]), "steps": result["steps"]}


def _spread(xs: Sequence[float]) -> str:
    """The median and the range: ``43.1 (43.0-43.2)``."""
    return f"{statistics.median(xs):.1f} ({min(xs):.1f}-{max(xs):.1f})"


def _step_rows(runs: list[dict[str, Any]], start: float) -> list[list[object]]:
    """Each step's median resident set and its median growth over the previous step."""
    rows: list[list[object]] = []
    previous = start
    for i, (label, _) in enumerate(runs[0]["steps"]):
        at = statistics.median(r["steps"][i][1] for r in runs)
        rows.append([label, at, f"{at - previous:+.2f}"])
        previous = at
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    ap.add_argument(
        "--before",
        metavar="DIR",
        help="also measure the inmesh package in DIR (another source tree), same rounds",
    )
    args = ap.parse_args()
    # side name -> the inmesh tree it runs (None: the installed one)
    sides: dict[str, str | None] = {"httpx": None, "pydantic": None, "inmesh": None}
    if args.before:
        sides["before"] = args.before
    imports: dict[str, list[float]] = {s: [] for s in sides if s != "pydantic"}
    top: list[list[tuple[str, float]]] = []
    mem: dict[str, list[dict[str, Any]]] = {s: [] for s in sides}
    byte_compile(None)  # the installed inmesh, as pip would have
    if args.before:
        byte_compile(args.before)
    with Servers([0.0] * 2) as servers:
        for r in range(args.rounds):
            names = list(sides)
            order = names[r % len(names) :] + names[: r % len(names)]
            for side in order:
                src = sides[side]
                if side in imports:
                    module = "httpx" if side == "httpx" else "inmesh"
                    total, parts = import_times(module, src)
                    imports[side].append(total)
                    if side == "inmesh":
                        top.append(parts)
                kind = "inmesh" if side == "before" else side
                mem[side].append(memory(kind, servers.ports, src))
    med = statistics.median
    print(f"footprint, {args.rounds} interleaved rounds (medians, ranges); {machine()}\n")
    shown = [s for s in ("httpx", "before", "inmesh") if s in sides]
    base = med(imports["httpx"])
    rows: list[list[object]] = [
        ["import (ms)", *[_spread(imports[s]) for s in shown], f"inmesh <= {IMPORT_BUDGET_MS:.0f}"]
    ]
    for key, label in (("rss", "RSS after 1 request (MiB)"), ("peak", "peak RSS (MiB)")):
        h = med([x[key] for x in mem["httpx"]])
        cells = [_spread([x[key] for x in mem["httpx"]])]
        for s in shown[1:]:
            values = [x[key] for x in mem[s]]
            cells.append(f"{_spread(values)} {med(values) - h:+.1f}")
        budget = f"+{RSS_BUDGET_MB:.0f}" if key == "rss" else ""
        rows.append([label, *cells, budget])
    print(table(["", *shown, "budget"], rows))
    print(f"\n(import: httpx's own {base:.1f} ms is part of inmesh's, which imports it)")

    h_runs, p_runs, m_runs = mem["httpx"], mem["pydantic"], mem["inmesh"]
    print("\nwhere the resident set grows (MiB, medians; every process starts with httpx):")
    print(table(["httpx process", "RSS", "step"], _step_rows(h_runs, 0.0)))
    print()
    print(table(["httpx + pydantic process", "RSS", "step"], _step_rows(p_runs, 0.0)))
    print()
    print(table(["mesh process", "RSS", "step"], _step_rows(m_runs, 0.0)))
    pyd = med(r["steps"][1][1] for r in p_runs) - med(r["steps"][0][1] for r in p_runs)
    extra = med([x["rss"] for x in m_runs]) - med([x["rss"] for x in h_runs])
    print(
        f"\nof the mesh's +{extra:.1f} MiB, pydantic's own (BaseModel and one model) is "
        f"+{pyd:.1f}; the rest (inmesh's modules, its configuration models and their "
        f"validators, the snapshot, the transport) +{extra - pyd:.1f}"
    )

    median_round = sorted(range(len(top)), key=lambda i: imports["inmesh"][i])[len(top) // 2]
    heaviest = [p for p in top[median_round] if p[0].count(".") <= 1][:12]
    print("\nheaviest imports under `import inmesh` (cumulative ms, median round):")
    print(table(["module", "ms"], [[name, ms] for name, ms in heaviest]))
    ok_import = med(imports["inmesh"]) <= IMPORT_BUDGET_MS
    ok_rss = extra <= RSS_BUDGET_MB
    print(
        f"\nimport budget {'met' if ok_import else 'MISSED'}; "
        f"RSS budget {'met' if ok_rss else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
