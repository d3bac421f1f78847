"""Scale: compiling an N-service mesh, applying one change, and the memory it takes.

    .venv/bin/python benchmarks/scale.py [--quick] [--n 100 1000 5000] [--requests 300]
    .venv/bin/python benchmarks/scale.py --memory [--n 1000 5000]

For each N (default 100, 1,000 and 5,000; ``--quick``: 100 and 1,000), in a fresh
subprocess (so RSS is this N's alone), with the synthetic mesh of ``_scale_mesh.py`` (per
service: a ServiceEntry, 3 WorkloadEntries, a DestinationRule with 3 subsets, a
VirtualService with 3 header rules and a weighted split) plus one service ``bench`` whose
endpoint is a loopback server:

- **validate**: the documents (already parsed from YAML) validated into resources (the
  loader's work; ``benchmarks/scale_config.py`` measures loading files);
- **compile**: ``Mesh(config=resources)`` for a client in ``ns-0`` (the support check,
  the snapshot: every service, cluster and route);
- **apply 1 VS**: ``Mesh.apply`` of the same resources with one VirtualService changed
  (its weights), median of 11; what was rebuilt is printed (parts by kind);
- **scoped**: the same with a ``Sidecar`` in ``ns-0`` importing ``./*`` and two other
  services (Istio's ``egress.hosts``): compile, apply, and the services and clusters the
  client holds;
- **RSS**: ``VmRSS`` after the imports, after validating (the resources), after compiling
  (the snapshot), and with the scoped Mesh instead; then, in another fresh process, a
  scoped client that holds only what ``Scope.sees`` lets a registry send it (the
  resources are validated service by service and the rest dropped at once): what a
  client fed by a scoped push holds;
- **--memory** (a separate, slower run): where the memory goes, by tracemalloc: the
  input documents, the peak while validating, the resources once the documents are
  dropped, the compiled snapshot of the unscoped client, and the snapshot by source file;
- **request**: client CPU per GET through the mesh to ``bench`` over raw httpx to the same
  server (``--requests`` sequential requests each, interleaved halves): it must stay flat
  in N.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import Any

from _common import HERE, Servers, machine, table

_VS_WEIGHTS = ((80, 10, 10), (70, 20, 10))


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _changed_vs(doc: dict[str, Any], weights: tuple[int, int, int]) -> dict[str, Any]:
    out = json.loads(json.dumps(doc))
    for d, w in zip(out["spec"]["http"][-1]["route"], weights, strict=True):
        d["weight"] = w
    return out


def _sidecar() -> dict[str, Any]:
    from _scale_mesh import host

    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "Sidecar",
        "metadata": {"name": "default", "namespace": "ns-0"},
        "spec": {"egress": [{"hosts": ["./*", f"ns-1/{host(1)}", f"ns-2/{host(2)}", "default/*"]}]},
    }


def _bench_docs(port: int) -> list[dict[str, Any]]:
    from _common import service_entry, workload_entries

    return [service_entry(), *workload_entries([port])]


def _time_apply(mesh: Any, resources: list[Any], index: int, variants: list[Any]) -> float:
    times = []
    for i in range(11):
        rs = list(resources)
        rs[index] = variants[i % 2]
        t = time.perf_counter()
        mesh.apply(rs)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _cpu_per_request(mesh: Any, port: int, requests: int) -> tuple[float, float]:
    import httpx

    raw = httpx.Client()
    meshed = mesh.sync_client()
    url_raw, url_mesh = f"http://127.0.0.1:{port}/", "http://bench.default.svc.cluster.local/"
    for c, u in ((raw, url_raw), (meshed, url_mesh)):
        for _ in range(20):
            assert c.get(u).status_code == 200
    cpu = {"raw": 0.0, "mesh": 0.0}
    for _ in range(2):
        for name, c, u in (("raw", raw, url_raw), ("mesh", meshed, url_mesh)):
            t = time.process_time()
            for _ in range(requests // 2):
                c.get(u)
            cpu[name] += time.process_time() - t
    raw.close()
    meshed.close()
    return cpu["raw"] / requests * 1e6, cpu["mesh"] / requests * 1e6


def child(n: int, port: int, requests: int) -> dict[str, Any]:
    """One N, measured in this (fresh) process."""
    from _scale_mesh import mesh_docs

    import inmesh
    from inmesh.config import parse_documents

    out: dict[str, Any] = {"n": n, "rss_imports": _rss_mb()}
    docs = [*mesh_docs(n), *_bench_docs(port)]
    vs_doc = next(d for d in docs if d["kind"] == "VirtualService")
    t = time.perf_counter()
    resources = parse_documents(docs)
    out["validate"] = time.perf_counter() - t
    del docs  # the YAML-shaped dicts are the benchmark's, not the mesh's
    out["rss_resources"] = _rss_mb()

    t = time.perf_counter()
    mesh = inmesh.Mesh(service="client", namespace="ns-0", config=resources)
    out["compile"] = time.perf_counter() - t
    out["rss_compiled"] = _rss_mb()
    index = next(
        i for i, r in enumerate(resources) if r.kind == "VirtualService" and r.name == "svc-0"
    )
    variants = parse_documents([_changed_vs(vs_doc, w) for w in _VS_WEIGHTS])
    out["apply"] = _time_apply(mesh, resources, index, variants)
    out["rebuilt"] = dict(mesh._compiler.rebuilt)
    out["clusters"] = len(mesh.snapshot.clusters)
    out["raw_us"], out["mesh_us"] = _cpu_per_request(mesh, port, requests)
    del mesh

    scoped_resources = [*resources, *parse_documents([_sidecar()])]
    t = time.perf_counter()
    scoped = inmesh.Mesh(service="client", namespace="ns-0", config=scoped_resources)
    out["scoped_compile"] = time.perf_counter() - t
    out["scoped_apply"] = _time_apply(scoped, scoped_resources, index, variants)
    out["scoped_services"] = len(scoped.snapshot.services)
    out["scoped_clusters"] = len(scoped.snapshot.clusters)
    out["rss_scoped"] = _rss_mb()
    with scoped.sync_client() as c:
        out["scoped_status"] = c.get("http://bench.default.svc.cluster.local/").status_code
    return out


def view_child(n: int, port: int) -> dict[str, Any]:
    """A scoped client holding only what a registry filtering by its Scope would send."""
    from _scale_mesh import service_docs

    import inmesh
    from inmesh.config import parse_documents
    from inmesh.routing._scope import scope_for

    out: dict[str, Any] = {"n": n, "rss_imports": _rss_mb()}
    [sidecar] = parse_documents([_sidecar()])
    scope = scope_for([sidecar], "ns-0", {})
    kept: list[Any] = [sidecar, *parse_documents(_bench_docs(port))]
    for i in range(n):
        for r in parse_documents(service_docs(i)):
            spec = r.spec
            hosts = getattr(spec, "hosts", None) or [getattr(spec, "host", "")]
            if scope.sees(r.kind, r.namespace, hosts, getattr(spec, "export_to", None)):
                kept.append(r)
    out["view_resources"] = len(kept)
    t = time.perf_counter()
    mesh = inmesh.Mesh(service="client", namespace="ns-0", config=kept)
    out["view_compile"] = time.perf_counter() - t
    out["view_services"] = len(mesh.snapshot.services)
    out["rss_view"] = _rss_mb()
    with mesh.sync_client() as c:
        out["view_status"] = c.get("http://bench.default.svc.cluster.local/").status_code
    return out


def memory_child(n: int) -> dict[str, Any]:
    """Where the memory goes, by tracemalloc (slow: a separate run, ``--memory``): what
    the resources and the compiled snapshot of the unscoped client hold once built."""
    import gc
    import tracemalloc

    from _scale_mesh import mesh_docs

    import inmesh
    from inmesh.config import parse_documents

    # the lazily imported modules, imported before measuring
    inmesh.Mesh(service="client", namespace="ns-0", config=parse_documents(mesh_docs(2)))
    gc.collect()
    tracemalloc.start()
    out: dict[str, Any] = {"n": n, "traced_imports": tracemalloc.get_traced_memory()[0]}
    docs = mesh_docs(n)
    out["traced_docs"] = tracemalloc.get_traced_memory()[0]
    resources = parse_documents(docs)
    out["traced_peak_validate"] = tracemalloc.get_traced_memory()[1]
    del docs
    gc.collect()
    out["traced_resources"] = tracemalloc.get_traced_memory()[0]
    before = tracemalloc.take_snapshot()
    mesh = inmesh.Mesh(service="client", namespace="ns-0", config=resources)
    gc.collect()
    out["traced_compiled"] = tracemalloc.get_traced_memory()[0]
    after = tracemalloc.take_snapshot()
    by_file: dict[str, float] = {}
    for stat in after.compare_to(before, "filename"):
        name = stat.traceback[0].filename.rsplit("/inmesh/", 1)[-1]
        by_file[name] = by_file.get(name, 0) + stat.size_diff
    out["snapshot_by_file"] = sorted(by_file.items(), key=lambda kv: -kv[1])[:12]
    out["services"] = len(mesh.snapshot.services)
    return out


def _print_memory(rows: list[dict[str, Any]]) -> None:
    mb = 1 / 1e6
    print("# where the memory goes (tracemalloc, MB; unscoped client)")
    print(
        table(
            ["N", "docs (input)", "peak validating", "resources", "snapshot", "per service KB"],
            [
                [
                    r["n"],
                    (r["traced_docs"] - r["traced_imports"]) * mb,
                    (r["traced_peak_validate"] - r["traced_imports"]) * mb,
                    (r["traced_resources"] - r["traced_imports"]) * mb,
                    (r["traced_compiled"] - r["traced_resources"]) * mb,
                    (r["traced_compiled"] - r["traced_imports"]) / r["n"] / 1e3,
                ]
                for r in rows
            ],
        )
    )
    for r in rows:
        print(f"\n# N = {r['n']}: the snapshot by source file (MB)")
        print(table(["file", "MB"], [[f, size * mb] for f, size in r["snapshot_by_file"]]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="N = 100 and 1,000 only")
    ap.add_argument("--n", type=int, nargs="*", help="the N to measure")
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--view", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument(
        "--memory", action="store_true", help="where the memory goes, by tracemalloc (slow)"
    )
    args = ap.parse_args()
    if args.child is not None:
        if args.memory:
            print(json.dumps(memory_child(args.child)))
        elif args.view:
            print(json.dumps(view_child(args.child, args.port)))
        else:
            print(json.dumps(child(args.child, args.port, args.requests)))
        return
    ns = args.n or ([100, 1000] if args.quick else [100, 1000, 5000])
    if args.memory:
        mem_rows = []
        for n in ns:
            cmd = [sys.executable, str(HERE / "scale.py"), "--child", str(n), "--memory"]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                sys.exit(f"N={n} failed:\n{proc.stderr}")
            mem_rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        _print_memory(mem_rows)
        return
    rows = []
    with Servers([0]) as servers:
        for n in ns:
            cmd = [sys.executable, str(HERE / "scale.py"), "--child", str(n)]
            cmd += ["--port", str(servers.ports[0]), "--requests", str(args.requests)]
            row: dict[str, Any] = {}
            for extra in ([], ["--view"]):
                proc = subprocess.run(cmd + extra, capture_output=True, text=True, check=False)
                if proc.returncode != 0:
                    sys.exit(f"N={n} failed:\n{proc.stderr}")
                row.update(json.loads(proc.stdout.strip().splitlines()[-1]))
            rows.append(row)
    print(f"# scale: compile, apply and memory by N ({machine()})")
    print(
        table(
            ["N", "validate s", "compile s", "apply 1 VS ms", "clusters", "RSS MB"],
            [
                [
                    r["n"],
                    r["validate"],
                    r["compile"],
                    r["apply"] * 1000,
                    r["clusters"],
                    r["rss_compiled"],
                ]
                for r in rows
            ],
        )
    )
    print(
        "\n# memory (VmRSS, MB): after imports, + resources, + compiled snapshot; the scoped"
        " Mesh instead; a scoped client holding only its registry view"
    )
    print(
        table(
            ["N", "imports", "resources", "compiled", "scoped", "view: resources", "view RSS"],
            [
                [
                    r["n"],
                    r["rss_imports"],
                    r["rss_resources"],
                    r["rss_compiled"],
                    r["rss_scoped"],
                    r["view_resources"],
                    r["rss_view"],
                ]
                for r in rows
            ],
        )
    )
    print("\n# scoped client (Sidecar: ./* + 2 services): what it compiles and holds")
    print(
        table(
            ["N", "compile s", "apply 1 VS ms", "services", "clusters", "GET status"],
            [
                [
                    r["n"],
                    r["scoped_compile"],
                    r["scoped_apply"] * 1000,
                    r["scoped_services"],
                    r["scoped_clusters"],
                    r["scoped_status"],
                ]
                for r in rows
            ],
        )
    )
    print("\n# per request: client CPU (us) through the mesh against raw httpx")
    print(
        table(
            ["N", "raw httpx us", "mesh us", "ratio", "parts rebuilt by one VS change"],
            [
                [
                    r["n"],
                    r["raw_us"],
                    r["mesh_us"],
                    r["mesh_us"] / r["raw_us"],
                    " ".join(f"{k}={v}" for k, v in r["rebuilt"].items()),
                ]
                for r in rows
            ],
        )
    )


if __name__ == "__main__":
    main()
