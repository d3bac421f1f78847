"""The configuration path at scale: load, validate, analyze and ``inmesh apply``.

    .venv/bin/python benchmarks/scale_config.py [--quick] [--sizes 100,1000,5000]
                                                [--big MB] [--cpu] [--shapes pairs,mesh]
                                                [--no-refuse]

Two shapes of configuration (``_scale_mesh.py``): ``mesh``, N services each a ServiceEntry,
three WorkloadEntries, a DestinationRule with three subsets and a VirtualService with
three header rules and a weighted split (the shape issue 12 measured); ``pairs``, N
ServiceEntry + VirtualService pairs (its second measurement, "as a user would").

For each shape and N, each step in a fresh process, as a user runs it:

- ``load``: ``load_config`` of the file (parse and validate), in a child process after
  its imports (so without interpreter start-up);
- ``check``: the cross-reference analysis of what was loaded (same child);
- ``analyze``: ``inmesh analyze -f FILE``, wall time of the whole command;
- ``apply``: ``inmesh apply -f FILE`` against a registry process (SQLite, a fresh data
  directory per shape and N, ``--max-body 64Mi`` so that N = 5,000 fits one request):
  the first apply (every resource created), the same file again (every resource
  unchanged: nothing written), and the file with one VirtualService changed.

The baseline in the same run is ``inmesh --help`` (interpreter start-up and imports,
which every command pays). ``--big MB`` also analyzes a file of about that many megabytes
(``mesh`` shape); ``--cpu`` prints the children's CPU seconds beside the wall times (the
machine may be shared). Also measured: how long ``inmesh apply`` takes to refuse a 5 MB
file against a registry with the default 4 MiB limit.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, table
from _scale_mesh import host, mesh_docs

BIN = Path(sys.executable).parent
Doc = dict[str, Any]


def pair_docs(n: int, namespaces: int = 10) -> list[Doc]:
    """N ServiceEntry + VirtualService pairs: a service with one endpoint, and a route to
    it with a timeout."""
    docs: list[Doc] = []
    for i in range(n):
        name, ns, fqdn = f"svc-{i}", f"ns-{i % namespaces}", host(i, namespaces)
        docs.append(
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "ServiceEntry",
                "metadata": {"name": name, "namespace": ns},
                "spec": {
                    "hosts": [fqdn],
                    "location": "MESH_INTERNAL",
                    "resolution": "STATIC",
                    "ports": [{"number": 8080, "name": "http", "protocol": "HTTP"}],
                    "endpoints": [{"address": f"127.{(i >> 8) & 255}.{i & 255}.1"}],
                },
            }
        )
        docs.append(
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "VirtualService",
                "metadata": {"name": name, "namespace": ns},
                "spec": {
                    "hosts": [fqdn],
                    "http": [
                        {
                            "timeout": "5s",
                            "route": [{"destination": {"host": fqdn, "port": {"number": 8080}}}],
                        }
                    ],
                },
            }
        )
    return docs


def write(path: Path, docs: list[Doc]) -> float:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path.stat().st_size / 1e6


def changed_one(docs: list[Doc]) -> list[Doc]:
    """The same documents with the first VirtualService's first rule given a new timeout."""
    out = [dict(d) for d in docs]
    for i, d in enumerate(out):
        if d["kind"] == "VirtualService":
            spec = json.loads(json.dumps(d["spec"]))
            spec["http"][0]["timeout"] = "7s"
            out[i] = {**d, "spec": spec}
            break
    return out


# -- measuring -------------------------------------------------------------------------------

_CHILD = """
import json, sys, time
import inmesh.config, inmesh.analysis
from inmesh.config import load_config
from inmesh.analysis import check
t0 = time.perf_counter(); c0 = time.process_time()
resources = load_config(sys.argv[1])
t1 = time.perf_counter(); c1 = time.process_time()
check(resources, complete=True)
t2 = time.perf_counter(); c2 = time.process_time()
print(json.dumps({"load": [t1 - t0, c1 - c0], "check": [t2 - t1, c2 - c1]}))
"""


def in_process(path: Path) -> dict[str, list[float]]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, check=True
    )
    result: dict[str, list[float]] = json.loads(out.stdout)
    return result


def timed(*argv: str, env: dict[str, str] | None = None, ok: bool = True) -> tuple[float, float]:
    """Wall and CPU seconds of a command (CPU: this child's user + system time)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if ok and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


class Registry:
    """``inmesh registry serve`` on 127.0.0.1 (SQLite in a temporary directory)."""

    def __init__(self, data: Path, *extra: str) -> None:
        self.process = subprocess.Popen(
            [
                *(str(BIN / "inmesh"), "registry", "serve", "--listen", "127.0.0.1:0"),
                *("--data", str(data), *extra),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        self.url = line.split("serving on ")[1].split()[0]
        for _ in range(200):
            try:
                httpx.get(self.url + "/v1/healthz", trust_env=False)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        self.env = {**os.environ, "INMESH_REGISTRY": self.url, "INMESH_DATA": str(data)}

    def revision(self) -> int:
        token = (Path(self.env["INMESH_DATA"]) / "admin-token").read_text().strip()
        r = httpx.get(
            self.url + "/v1/resources",
            params={"kind": "Gateway"},
            headers={"Authorization": f"Bearer {token}"},
            trust_env=False,
            timeout=300,  # behind a push of the whole mesh, on a busy machine
        )
        return int(r.json()["revision"])

    def cpu(self) -> float:
        """The registry process's CPU seconds so far (user + system, from /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def settle(self) -> None:
        """Wait until the registry has pushed its latest revision (the push after a write
        runs on the same event loop: the next step should not pay for it)."""
        target = self.revision()
        for _ in range(1200):
            pushed = httpx.get(self.url + "/v1/healthz", trust_env=False, timeout=300).json()[
                "revision"
            ]
            if int(pushed) >= target:
                return
            time.sleep(0.05)

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def max_body_option() -> tuple[str, ...]:
    """``--max-body 64Mi`` where ``registry serve`` has it (a run against older code for a
    baseline does not: its applies stop at 4 MiB)."""
    done = subprocess.run(
        [str(BIN / "inmesh"), "registry", "serve", "--help"], capture_output=True, text=True
    )
    return ("--max-body", "64Mi") if "--max-body" in done.stdout else ()


def measure(shape: str, n: int, work: Path, cpu: bool) -> list[object]:
    docs = mesh_docs(n) if shape == "mesh" else pair_docs(n)
    path = work / f"{shape}-{n}.yaml"
    size = write(path, docs)
    inner = in_process(path)
    inmesh = str(BIN / "inmesh")
    analyze = timed(inmesh, "analyze", "-f", str(path))
    extra = max_body_option()
    if not extra and size > 4.0:
        skipped: list[object] = [shape, n, len(docs), round(size, 1)]
        skipped.extend(round(x, 2) for x in (inner["load"][0], inner["check"][0], analyze[0]))
        skipped.extend(["-", "-", "-"])
        return skipped
    registry = Registry(work / f"data-{shape}-{n}", *extra)
    try:
        applies: list[tuple[float, float, float]] = []
        for step in ("first", "again", "one"):
            if step == "one":
                write(path, changed_one(docs))
            registry.settle()
            before = registry.cpu()
            wall, used = timed(inmesh, "apply", "-f", str(path), env=registry.env)
            applies.append((wall, used, registry.cpu() - before))
            if step == "first":
                revision = registry.revision()
            elif step == "again":
                assert registry.revision() == revision, "an unchanged apply wrote something"
        assert registry.revision() == revision + 1
    finally:
        registry.close()
    row: list[object] = [shape, n, len(docs), round(size, 1)]
    for wall, used in (
        (inner["load"][0], inner["load"][1]),
        (inner["check"][0], inner["check"][1]),
    ):
        row.append(f"{wall:.2f} ({used:.2f})" if cpu else round(wall, 2))
    row.append(f"{analyze[0]:.2f} ({analyze[1]:.2f})" if cpu else round(analyze[0], 2))
    for wall, used, served in applies:
        row.append(f"{wall:.2f} ({used:.2f}+{served:.2f})" if cpu else round(wall, 2))
    return row


def refuse_big(work: Path) -> tuple[float, float]:
    """``inmesh apply`` of a ~5 MB file against the default 4 MiB limit (it must refuse)."""
    path = work / "five-mb.yaml"
    docs: list[Doc] = []
    n = 0
    while True:
        docs.extend(mesh_docs(100 + n)[n:])  # services n .. n+99
        n += 100
        if write(path, docs) > 5.0:
            break
    registry = Registry(work / "data-five-mb")
    try:
        return timed(str(BIN / "inmesh"), "apply", "-f", str(path), env=registry.env, ok=False)
    finally:
        registry.close()


def analyze_big(work: Path, megabytes: float) -> tuple[float, float, float]:
    n = int(megabytes * 1000 / 2.08)  # the mesh shape is about 2.08 MB per 1,000 services
    path = work / "big.yaml"
    size = write(path, mesh_docs(n))
    wall, used = timed(str(BIN / "inmesh"), "analyze", "-f", str(path))
    return size, wall, used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 100 and 1,000 only")
    parser.add_argument("--sizes", help="comma-separated N (default 100,1000,1500,5000)")
    parser.add_argument("--big", type=float, metavar="MB", help="also analyze a file this big")
    parser.add_argument("--cpu", action="store_true", help="show CPU seconds too")
    parser.add_argument("--shapes", default="pairs,mesh", help="comma-separated (pairs,mesh)")
    parser.add_argument("--no-refuse", action="store_true", help="skip the 5 MB refusal")
    args = parser.parse_args()
    sizes = [100, 1000] if args.quick else [100, 1000, 1500, 5000]
    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",")]
    print(machine())
    with tempfile.TemporaryDirectory(prefix="inmesh-scale-") as tmp:
        work = Path(tmp)
        baseline = timed(str(BIN / "inmesh"), "--help")
        print(f"baseline: `inmesh --help` {baseline[0]:.2f} s wall ({baseline[1]:.2f} s CPU)")
        header = ["shape", "N", "docs", "MB", "load", "check", "analyze", "apply", "again", "one"]
        rows: list[list[object]] = []
        for shape in args.shapes.split(","):
            for n in sizes:
                rows.append(measure(shape, n, work, args.cpu))
                print(" ".join(str(c) for c in rows[-1]), file=sys.stderr, flush=True)
        print(table(header, rows))
        print(
            "seconds"
            + (" wall (CPU; apply: the CLI's + the registry's)" if args.cpu else " wall")
            + "; again = the same file (unchanged), one = one VirtualService changed"
        )
        if not args.no_refuse:
            wall, used = refuse_big(work)
            print(
                f"`inmesh apply` of a 5 MB file, 4 MiB limit: refused in {wall:.2f} s "
                f"({used:.2f} CPU)"
            )
        if args.big:
            size, wall, used = analyze_big(work, args.big)
            print(f"`inmesh analyze` of a {size:.1f} MB file: {wall:.1f} s ({used:.1f} s CPU)")


if __name__ == "__main__":
    main()
