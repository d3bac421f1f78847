"""The inbound side's cost: a bare uvicorn app against the same app behind the mesh
listener and ``MeshMiddleware`` with everything a user gets on, same requests, one run.

    .venv/bin/python benchmarks/inbound.py [--quick] [--requests 400] [--rounds 40]
        [--no-telemetry] [--micro [--h11] [--number 20000] [--repeat 7]]
        [--counts N [--counts-out FILE]]
        [--instructions N [--kinds bare,listener,mesh] [--branch-sim]]

Three server processes on 127.0.0.1 (this file with ``--serve``), each serving the same
small JSON app over mTLS with certificates from one throwaway mesh CA (the client presents
``spiffe://cluster.local/ns/shop/sa/front``):

- ``bare``: the app alone under uvicorn's own h11 protocol and TLS (``ssl_cert_reqs``
  CERT_REQUIRED, the same certificates);
- ``listener``: the mesh listener (``MeshProtocol``: first-byte sniff, PeerAuthentication,
  the ASGI TLS extension, each answer in one write) and ``MeshMiddleware`` of a Mesh
  ``payments`` (namespace ``shop``, labels ``app``/``version``, its certificate from the
  same CA) as a user gets it: metrics on (the destination-side record and the metrics
  hook), metadata exchange (the peer's headers read and stripped, this workload's sent
  back), and tracing
  configured at Istio's 1% (``Tracing(sampling=1)``, an OpenTelemetry SDK provider whose
  exporter drops the spans: the SDK's cost without a network); no AuthorizationPolicy;
- ``mesh``: the same with ``benchmarks/authz.py``'s 20 policies (4 DENY, 16 ALLOW) x 5
  rules applying; the request is allowed by the last rule of the last ALLOW policy, so
  every other rule is evaluated first.

One client (``httpx.Client``, keep-alive) sends sequential GETs with the headers a mesh
peer (``front-v1``, tracing at 1%) sends: a new ``x-request-id``, its metadata exchange
pair (``x-envoy-peer-metadata-id``, ``x-envoy-peer-metadata``) and its trace context
(``traceparent``, as a mesh peer writes a W3C trace; a new trace per request, 1 in 100
sampled); the same requests go to every server. ``--no-telemetry``: the servers' Mesh
without metrics or tracing and a client that sends none of those headers (the figures
before issue 10).

Server CPU per request is the server process's CPU time (the scheduler's nanosecond sum over
its threads, ``/proc/<pid>/task/*/schedstat``) over a round divided by its requests; client
latency is ``time.perf_counter`` around each request. Rounds interleave the servers (bare,
listener, mesh, then listener, mesh, bare, ...), each with 50 unmeasured requests first;
each ratio is the median over rounds of the round's figure over the same round's bare
figure. Many short rounds rather than a few long ones: a burst of other work on a shared
machine spoils a few rounds, which the median drops.
Budget (issue 10): the listener server (everything on but authorization) at most 1.10x on
server CPU per request and on client p50; the mesh server's ratio is reported. ``--quick``: 500
requests x 4 rounds. With ``INMESH_BENCH_PROFILE=DIR`` each server runs under cProfile
and writes ``DIR/<kind>.prof`` when it stops (the figures are then the profiled ones).
With ``INMESH_BENCH_SECTIONS=1`` the mesh servers time the middleware's own work and its
parts (exchange decode, trace decision, record + hooks, metrics hook) per request and print
the medians when they stop.

``--counts N``: each server alone for N requests, counted inside it (``_inbound_counts.py``):
Python calls, objects the GC collected and collections per 1,000 requests by generation,
syscalls (``strace -c -f``), request and response bytes: figures that do not move with
the machine's load.

``--instructions N``: each server alone under valgrind's callgrind for N requests:
instructions executed and simulated L1 cache misses per request (load does not move them;
~20 s a server). ``INMESH_BENCH_VARIANT`` takes a mesh server apart, for ``--counts`` and
``--instructions``: ``listener-only`` (the listener, no ``MeshMiddleware``), ``no-answer``
(the middleware, but no metadata exchange pair in the answers), ``stock-h11`` (the
listener with h11's own connection, ``inmesh/inbound/_h11.py`` off).

``--branch-sim`` (with ``--instructions``): callgrind's branch predictor too, conditional
(``Bc``) and indirect (``Bi``) branches executed and mispredicted (``Bcm``, ``Bim``) per
request; each server's callgrind file is kept (its path is printed) for
``callgrind_annotate``. ``INMESH_BENCH_ADAPTIVE=DIR``: each server writes ``DIR/<kind>.txt``
when it stops, the bytecode instructions of inmesh, h11 and uvicorn that CPython 3.11
failed to specialize, and the attribute accesses on instances with a materialized dict
(``_inbound_counts.unspecialized``).

``--micro``: no sockets, the in-process harness (``_inbound_harness.py``): the middleware
driven with the scope uvicorn and the listener hand it, microseconds of pure CPU per
request, for variants from the bare app to everything on (stable on a shared machine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import time
from typing import Any

import httpx

from inmesh.security import CertificateAuthority, SpiffeId, WorkloadTLS

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

#: bare uvicorn (its own TLS), the mesh listener + MeshMiddleware with no policy, and with
#: the 20 x 5 AuthorizationPolicies
KINDS = ["bare", "listener", "mesh"]
HEADERS = [(b"content-type", b"application/json")]
BODY = b'{"ok": true}'
PATH = "/pay/42?x=1"
FRONT = SpiffeId.of("shop", "front")
PAYMENTS = SpiffeId.of("shop", "payments")


def policies() -> list[dict[str, Any]]:
    """``benchmarks/authz.py``'s set: 20 policies (4 DENY, 16 ALLOW) x 5 rules, every kind
    of matcher; the request is allowed by the last rule of the last ALLOW policy."""
    from authz import _policies

    return _policies()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def serve(kind: str, ca_dir: str, telemetry: bool) -> None:
    import atexit
    import shutil
    import tempfile

    import uvicorn

    from inmesh import Mesh, MeshMiddleware
    from inmesh.config import parse_documents
    from inmesh.inbound import InboundPolicy, protocol_class
    from inmesh.security._keys import private_key_pem
    from inmesh.telemetry import Tracing

    ca = CertificateAuthority.load(ca_dir)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    options: dict[str, Any] = {}
    served: Any = app
    if kind != "bare":
        from _inbound_harness import LABELS, drop_provider

        mesh = Mesh(
            service="payments",
            namespace="shop",
            labels=LABELS,
            config=parse_documents(policies()) if kind == "mesh" else None,
            metrics=telemetry,
            tracing=Tracing(sampling=1, provider=drop_provider()) if telemetry else False,
            ca=ca_dir,
        )
        # the parts of a mesh server, one at a time (see the module)
        variant = os.environ.get("INMESH_BENCH_VARIANT", "")
        if variant not in ("", "listener-only", "no-answer", "stock-h11"):
            raise SystemExit(f"INMESH_BENCH_VARIANT={variant!r}: not a variant")
        if variant == "stock-h11":
            import h11

            import inmesh.inbound._protocol as listener

            listener.connection_class = lambda: h11.Connection  # type: ignore[assignment]
        if variant == "no-answer":
            mesh._state.exchange = ()
        if variant == "listener-only":
            served = app
        elif os.environ.get("INMESH_BENCH_SECTIONS"):
            from _inbound_harness import instrumented

            served = instrumented(mesh, app, kind)
        else:
            served = MeshMiddleware(app, mesh=mesh)
        # as ``inmesh serve`` builds its listener
        options["http"] = protocol_class(tls=lambda: mesh.tls, policy=InboundPolicy.for_mesh(mesh))
    else:  # uvicorn's own TLS, with the same certificates and a required client certificate
        key, issued = ca.issue(PAYMENTS)
        files = tempfile.mkdtemp(prefix="inmesh-bench-")
        atexit.register(shutil.rmtree, files, True)  # uvicorn reads them as it starts
        for name, data in (
            ("cert.pem", issued.chain_pem),
            ("key.pem", private_key_pem(key)),
            ("ca.pem", issued.root_pem),
        ):
            with open(os.path.join(files, name), "wb") as f:
                f.write(data)
        options.update(
            http="h11",
            ssl_certfile=os.path.join(files, "cert.pem"),
            ssl_keyfile=os.path.join(files, "key.pem"),
            ssl_ca_certs=os.path.join(files, "ca.pem"),
            ssl_cert_reqs=ssl.CERT_REQUIRED,
        )
    config = uvicorn.Config(
        served,
        log_level="error",
        access_log=False,
        lifespan="off",
        proxy_headers=False,
        timeout_keep_alive=60,
        **options,
    )
    server = uvicorn.Server(config)
    print(sock.getsockname()[1], flush=True)

    counts = None
    if os.environ.get("INMESH_BENCH_COUNTS"):
        from _inbound_counts import Counts

        counts = Counts()

    async def run() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            if counts is not None:  # --counts: mark / report, one JSON line each
                print(json.dumps(counts.command(line.strip())), flush=True)
        server.should_exit = True
        await task

    profile_dir = os.environ.get("INMESH_BENCH_PROFILE")
    if not profile_dir:
        asyncio.run(run())
        if os.environ.get("INMESH_BENCH_ADAPTIVE"):
            from _inbound_counts import unspecialized

            with open(os.path.join(os.environ["INMESH_BENCH_ADAPTIVE"], f"{kind}.txt"), "w") as f:
                f.write(unspecialized())
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.runcall(asyncio.run, run())
    profiler.dump_stats(os.path.join(profile_dir, f"{kind}.prof"))


def cpu_seconds(pid: int) -> float:
    """A server's CPU time so far, user and system, to the nanosecond: the scheduler's own
    sum for each of its threads (``/proc/PID/task/*/schedstat``; a server's threads live as
    long as it does). ``/proc/PID/stat`` counts the same time in 10 ms ticks, ~10% of a
    round's 400 requests at each reading."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/schedstat") as f:
            total += int(f.read().split()[0])
    return total / 1e9


def request_headers(n: int, telemetry: bool) -> list[tuple[bytes, bytes]]:
    """Request ``n``'s headers: a mesh peer's (see the module), or a plain client's."""
    if not telemetry:
        return [(b"user-agent", b"bench"), (b"x-request-id", b"abc")]
    from _inbound_harness import peer_headers

    return [(k, v) for k, v in peer_headers(n) if k not in (b"host", b"connection")]


def measure(
    client: httpx.Client, url: str, pid: int, headers: list[list[tuple[bytes, bytes]]]
) -> tuple[float, float]:
    """(server CPU us per request, client p50 us) over one sequential GET per entry of
    ``headers``."""
    for h in headers[:50]:
        client.get(url, headers=h).read()
    times = []
    cpu0 = cpu_seconds(pid)
    requests = len(headers)
    for h in headers:
        t0 = time.perf_counter()
        r = client.get(url, headers=h)
        r.read()
        times.append(time.perf_counter() - t0)
        if r.status_code != 200:
            raise SystemExit(f"{url}: {r.status_code} {r.text}")
    cpu = (cpu_seconds(pid) - cpu0) / requests
    return cpu * 1e6, statistics.median(times) * 1e6


def counts(ca_dir: str, client_tls: Any, telemetry: bool, requests: int, out: str | None) -> None:
    """``--counts``: each server alone, ``requests`` sequential requests after 300 unmeasured
    ones; per request: Python calls, objects the GC collected, syscalls (``strace -c -f``
    when installed), bytes each way; collections per 1,000 requests by generation; the code
    footprint: the Python functions that run on every request (called at least ``requests``
    times) and the KiB of their bytecode (with inline caches), the code a request brings back
    into the CPU's caches when other work ran in between."""
    import shutil
    import signal
    import tempfile

    from _common import wait_listening

    env = {**os.environ, "INMESH_BENCH_COUNTS": "1"}
    strace = shutil.which("strace")
    headers = [request_headers(n, telemetry) for n in range(requests)]
    found: dict[str, Any] = {}
    for kind in KINDS:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", kind, "--ca", ca_dir]
            + ([] if telemetry else ["--no-telemetry"]),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stdin is not None and proc.stdout is not None

        def ask(command: str, proc: subprocess.Popen[str] = proc) -> Any:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(command + "\n")
            proc.stdin.flush()
            return json.loads(proc.stdout.readline())

        try:
            port = int(proc.stdout.readline())
            wait_listening(port)
            url = f"https://127.0.0.1:{port}{PATH}"
            with httpx.Client(verify=client_tls.client) as client:
                for h in headers[:300]:
                    client.get(url, headers=h).read()
                ask("mark")
                tracer = None
                if strace is not None:
                    trace_file = tempfile.mktemp(prefix="inmesh-strace-")
                    tracer = subprocess.Popen(
                        [strace, "-c", "-f", "-q", "-o", trace_file, "-p", str(proc.pid)],
                        stderr=subprocess.DEVNULL,
                    )
                    time.sleep(1.0)  # attached
                sent = received = 0
                for h in headers:
                    r = client.get(url, headers=h)
                    r.read()
                    sent += sum(len(k) + len(v) + 4 for k, v in h)
                    received += sum(len(k) + len(v) + 4 for k, v in r.headers.raw)
                    received += len(r.content)
                syscalls: dict[str, int] = {}
                if tracer is not None:
                    tracer.send_signal(signal.SIGINT)
                    tracer.wait(timeout=30)
                    with open(trace_file) as f:
                        for row in f:
                            parts = row.split()
                            if len(parts) >= 5 and parts[3].isdigit():
                                syscalls[parts[-1]] = int(parts[3])
                    os.unlink(trace_file)
                report = ask("report")
        finally:
            proc.stdin.close()
            proc.wait(timeout=10)
        report.update(syscalls=syscalls, sent=sent / requests, received=received / requests)
        found[kind] = report
    what = "everything on (metrics, exchange, tracing 1%)" if telemetry else "no telemetry"
    print(f"{requests} requests per server, counted inside it; {what}")
    print(
        f"{'':9} {'py calls':>9} {'functions':>10} {'bytecode KiB':>13} {'gc collected':>13} "
        f"{'gen0/1/2 per 1k':>16} {'syscalls':>9} {'req bytes':>10} {'resp bytes':>11}"
    )
    for kind, r in found.items():
        gens = "/".join(f"{c * 1000 / requests:.1f}" for c in r["collections"])
        # the code footprint: the Python functions run on every request, and their bytecode
        sizes = r["code_bytes"]
        every = [name for name, n in r["calls"].items() if n >= requests and name in sizes]
        code_kib = sum(sizes[name] for name in every) / 1024
        print(
            f"{kind:9} {sum(r['calls'].values()) / requests:9.1f} {len(every):10d} "
            f"{code_kib:13.1f} {sum(r['collected']) / requests:13.2f} {gens:>16} "
            f"{sum(r['syscalls'].values()) / requests:9.1f} {r['sent']:10.0f} {r['received']:11.0f}"
        )
    if out:
        with open(out, "w") as f:
            json.dump({"requests": requests, "servers": found}, f, indent=1)


def instructions(
    ca_dir: str,
    client_tls: Any,
    telemetry: bool,
    requests: int,
    kinds: list[str],
    branch_sim: bool = False,
) -> None:
    """``--instructions N``: each server alone under valgrind's callgrind (instrumentation
    on for the N measured requests only, after 100 unmeasured ones): instructions executed
    and simulated cache misses per request, the same on an idle or a loaded machine."""
    import shutil
    import tempfile

    from _common import callgrind_totals, wait_listening

    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")
    headers = [request_headers(n, telemetry) for n in range(requests)]
    variant = os.environ.get("INMESH_BENCH_VARIANT", "")
    print(
        f"{requests} requests per server under callgrind; "
        f"{'everything on' if telemetry else 'no telemetry'}"
        + (f"; INMESH_BENCH_VARIANT={variant}" if variant else "")
    )
    base: float | None = None
    for kind in kinds:
        out = os.path.join(tempfile.mkdtemp(prefix="inmesh-callgrind-"), "out")
        proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--cache-sim=yes"]
            + (["--branch-sim=yes"] if branch_sim else [])
            + [f"--callgrind-out-file={out}.%p", sys.executable, __file__]
            + ["--serve", kind, "--ca", ca_dir]
            + ([] if telemetry else ["--no-telemetry"]),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stdin is not None and proc.stdout is not None
        try:
            port = int(proc.stdout.readline())
            wait_listening(port, timeout=120)  # under valgrind
            url = f"https://127.0.0.1:{port}{PATH}"
            with httpx.Client(verify=client_tls.client, timeout=60) as client:
                for h in headers[:100]:
                    client.get(url, headers=h).read()
                control = ["callgrind_control", "-i"]
                subprocess.run([*control, "on", str(proc.pid)], check=True, capture_output=True)
                for h in headers:
                    client.get(url, headers=h).read()
                subprocess.run([*control, "off", str(proc.pid)], check=True, capture_output=True)
        finally:
            proc.stdin.close()
            proc.wait(timeout=120)
        figures = callgrind_totals(out, requests)
        ir = figures.get("Ir", 0.0)
        base = ir if base is None else base
        misses = " ".join(f"{e} {figures.get(e, 0):.0f}" for e in ("I1mr", "D1mr", "D1mw"))
        branches = (
            ", mispredicted: "
            + " ".join(f"{e} {figures.get(e, 0):.0f}" for e in ("Bc", "Bcm", "Bi", "Bim"))
            if branch_sim
            else ""
        )
        kept = ""
        if branch_sim:  # kept for callgrind_annotate
            kept = f"; {out}.*"
        else:
            shutil.rmtree(os.path.dirname(out), ignore_errors=True)
        print(
            f"{kind:9} instructions {ir:10.0f} ({ir / base:.3f}x {kinds[0]}), "
            f"L1 misses: {misses}{branches}{kept}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--serve", choices=KINDS, help=argparse.SUPPRESS)
    ap.add_argument("--ca", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument(
        "--no-telemetry",
        action="store_true",
        help="servers without metrics and tracing, a client without mesh headers",
    )
    ap.add_argument("--micro", action="store_true", help="the in-process harness only")
    ap.add_argument(
        "--counts",
        metavar="N",
        type=int,
        help="each server alone, N requests: calls, collections, syscalls, bytes per request",
    )
    ap.add_argument("--counts-out", help="--counts: every count as JSON in this file")
    ap.add_argument(
        "--instructions",
        metavar="N",
        type=int,
        help="each server alone under callgrind, N requests: instructions and cache misses",
    )
    ap.add_argument(
        "--kinds", default=",".join(KINDS), help="--instructions: the servers (comma-separated)"
    )
    ap.add_argument(
        "--branch-sim",
        action="store_true",
        help="--instructions: also callgrind's branch predictor (conditional and indirect "
        "branches executed and mispredicted)",
    )
    ap.add_argument("--number", type=int, default=20000, help="--micro: requests per round")
    ap.add_argument(
        "--h11", action="store_true", help="--micro: the answer through h11 as uvicorn sends it"
    )
    ap.add_argument("--repeat", type=int, default=7, help="--micro: rounds (best taken)")
    args = ap.parse_args()
    telemetry = not args.no_telemetry
    if args.serve:
        serve(args.serve, args.ca, telemetry)
        return
    if args.micro:
        import _inbound_harness

        figures = _inbound_harness.run(
            _inbound_harness.VARIANTS, number=args.number, repeat=args.repeat, wire=args.h11
        )
        how = ", answers through h11" if args.h11 else ""
        print(f"in-process, {args.number} requests x best of {args.repeat}{how}")
        _inbound_harness.report(figures)
        return
    requests, rounds = (500, 4) if args.quick else (args.requests, args.rounds)
    import atexit
    import shutil
    import tempfile

    ca_dir = os.path.join(tempfile.mkdtemp(prefix="inmesh-bench-ca-"), "ca")
    atexit.register(shutil.rmtree, os.path.dirname(ca_dir), True)  # the servers are gone by then
    ca = CertificateAuthority.init_root(ca_dir)
    client_tls = WorkloadTLS.build(*ca.issue(FRONT))
    if args.counts:
        counts(ca_dir, client_tls, telemetry, args.counts, args.counts_out)
        return
    if args.instructions:
        instructions(
            ca_dir,
            client_tls,
            telemetry,
            args.instructions,
            args.kinds.split(","),
            branch_sim=args.branch_sim,
        )
        return
    procs = {
        kind: subprocess.Popen(
            [sys.executable, __file__, "--serve", kind, "--ca", ca_dir]
            + ([] if telemetry else ["--no-telemetry"]),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for kind in KINDS
    }
    try:
        ports = {kind: int(p.stdout.readline()) for kind, p in procs.items()}  # type: ignore[union-attr]
        results: dict[str, list[tuple[float, float]]] = {kind: [] for kind in KINDS}
        headers = [request_headers(n, telemetry) for n in range(requests)]
        with httpx.Client(verify=client_tls.client) as client:
            for n in range(rounds):
                order = KINDS[n % len(KINDS) :] + KINDS[: n % len(KINDS)]
                for kind in order:
                    url = f"https://127.0.0.1:{ports[kind]}{PATH}"
                    results[kind].append(measure(client, url, procs[kind].pid, headers))
    finally:
        for p in procs.values():
            p.stdin.close()  # type: ignore[union-attr]
            p.wait(timeout=10)

    def ratio(kind: str, i: int) -> float:
        pairs = zip(results[kind], results["bare"], strict=True)
        return statistics.median(m[i] / b[i] for m, b in pairs)

    what = "everything on (metrics, exchange, tracing 1%)" if telemetry else "no telemetry"
    print(f"{requests} requests x {rounds} rounds; {os.cpu_count()} CPUs; {what}")
    print(f"{'':9} {'server CPU/req (us)':>20} {'client p50 (us)':>16} {'CPU x':>7} {'p50 x':>7}")
    for kind in KINDS:
        cpu = statistics.median(r[0] for r in results[kind])
        p50 = statistics.median(r[1] for r in results[kind])
        print(f"{kind:9} {cpu:20.1f} {p50:16.1f} {ratio(kind, 0):7.3f} {ratio(kind, 1):7.3f}")
    # issue 10's budget: the middleware with the telemetry on (the listener server); the
    # policies on top are reported (issue 9 set its 1.10x with authorization before the
    # telemetry existed)
    worst = max(ratio("listener", 0), ratio("listener", 1))
    print(
        f"listener/bare at most {worst:.3f}x: {'within' if worst <= 1.10 else 'OVER'} the "
        f"1.10x budget; with the policies on top {max(ratio('mesh', 0), ratio('mesh', 1)):.3f}x"
    )


if __name__ == "__main__":
    main()
