"""What tracing costs the outbound path: raw httpx, inmesh without tracing, inmesh with
tracing at Istio's 1%, and inmesh sampling every request, against the same server, one run.

    .venv/bin/python benchmarks/tracing.py [--sync] [--quick] [--requests 2000] [--rounds 10]
    .venv/bin/python benchmarks/tracing.py --counts 500 [--sync] [--no-callgrind]

The clients and rounds are ``overhead.py``'s (the foundation's configuration, sequential
GETs over loopback, interleaved rounds, paired ratios). The mesh clients:

- ``inmesh``: tracing not configured (``Mesh(tracing=False)``);
- ``trace 1%``: ``Tracing(sampling=1)``: 99 requests in 100 take the unsampled path (the
  decision, fresh ids and the W3C headers, B3 too for a trace that came in B3; no
  OpenTelemetry object), 1 in 100 a real SDK span;
- ``trace 100%``: every request a client span through the OpenTelemetry SDK (a
  ``BatchSpanProcessor`` whose exporter drops the spans: the SDK's cost without a network).

Each request is sent while an inbound request is being handled (the ``MeshMiddleware``
contextvar holds an ``x-request-id`` and a trace context), the case in-process propagation
serves. Then each tracing column's CPU per request minus ``inmesh``'s: the per-request cost
of the unsampled (1%) and the sampled (100%) path, in microseconds.

Last, ``--micro`` alone or after the run: the tracing code by itself, pure CPU (timeit, best
of 5), for the parts a request goes through: the middleware's bookkeeping when tracing is
not configured, the outbound headers with and without tracing, the unsampled decision, a
sampled server span and a sampled client span (start, headers, end, through the SDK with a
``BatchSpanProcessor`` whose exporter drops them). Figures that a loaded machine disturbs
less than a run over loopback.

``--counts N``: no timing at all: instructions (callgrind), Python calls (cProfile ncalls)
and system calls (``strace -c -f``) per request for raw httpx, inmesh, inmesh+policy
(``overhead.py``'s full resilience policy) and trace 1% (``--columns`` for a subset), each
client alone in a child process (``_outbound_counts.py``), then the functions whose calls
per request differ between the columns. For a shared or loaded machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from collections.abc import Sequence
from typing import Any

import httpx
from _common import Servers
from _outbound_counts import COLUMNS as COUNT_COLUMNS
from _outbound_counts import child as count_child
from _outbound_counts import counts
from overhead import VERSIONS, Series, _order, measure_async, measure_sync, mesh_config, report

import inmesh
from inmesh.telemetry import Tracing
from inmesh.telemetry._propagation import InboundContext, _inbound

NAMES = ["raw httpx", "inmesh", "trace 1%", "trace 100%"]


def _provider() -> Any:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Drop()))
    return provider


def meshes(ports: list[int]) -> list[inmesh.Mesh]:
    config = mesh_config(ports, policy=False)
    provider = _provider()
    return [
        inmesh.Mesh(service="bench-client", config=config, tracing=False),
        inmesh.Mesh(
            service="bench-client", config=config, tracing=Tracing(sampling=1, provider=provider)
        ),
        inmesh.Mesh(
            service="bench-client",
            config=config,
            tracing=Tracing(sampling=100, provider=provider),
        ),
    ]


def inbound() -> None:
    """As if handling an inbound request: its id and (undecided) trace context carried."""
    from inmesh.telemetry import TraceContext

    ctx = InboundContext(b"6b2f8a0e-5b1c-4b43-9c57-4f8e1a2b3c4d", [])
    ctx.trace = TraceContext(b"4bf92f3577b34da6a3ce929d0e0e4736", b"00f067aa0ba902b7", None)
    _inbound.set(ctx)


async def run_async(ports: list[int], requests: int, rounds: int) -> list[Series]:
    inbound()
    off, one, every = meshes(ports)
    series = [Series(n) for n in NAMES]
    raw_url = f"http://127.0.0.1:{ports[0]}/"
    async with (
        httpx.AsyncClient() as raw,
        off.client() as m0,
        one.client() as m1,
        every.client() as m2,
    ):
        plan = [(raw, raw_url), (m0, "http://bench/"), (m1, "http://bench/"), (m2, "http://bench/")]
        for i in range(rounds):
            for j in _order(i, len(plan)):
                series[j].add(*await measure_async(*plan[j], requests))
    return series


def run_sync(ports: list[int], requests: int, rounds: int) -> list[Series]:
    inbound()
    off, one, every = meshes(ports)
    series = [Series(n) for n in NAMES]
    raw_url = f"http://127.0.0.1:{ports[0]}/"
    with (
        httpx.Client() as raw,
        off.sync_client() as m0,
        one.sync_client() as m1,
        every.sync_client() as m2,
    ):
        plan = [(raw, raw_url), (m0, "http://bench/"), (m1, "http://bench/"), (m2, "http://bench/")]
        for i in range(rounds):
            for j in _order(i, len(plan)):
                series[j].add(*measure_sync(*plan[j], requests))
    return series


def costs(series: list[Series]) -> None:
    """Each tracing column's CPU per request over ``inmesh``'s, paired by round."""
    base = series[1].cpu_per_request
    for s in series[2:]:
        deltas = [(t - b) * 1e6 for t, b in zip(s.cpu_per_request, base, strict=True)]
        print(
            f"{s.name}: +{statistics.median(deltas):.1f} us CPU/request over inmesh "
            f"(rounds {min(deltas):.1f} to {max(deltas):.1f})"
        )


def micro() -> None:
    """The tracing code by itself, in microseconds per request (see the docstring)."""
    import timeit
    from types import SimpleNamespace

    from inmesh.telemetry import MeshTracer, TraceContext
    from inmesh.telemetry._propagation import parse_headers
    from inmesh.telemetry._spans import (
        ClientTrace,
        end_server_span,
        outbound_headers,
        start_server_span,
    )

    provider = _provider()
    kw: dict[str, Any] = {"service": "pp", "namespace": "default", "labels": {}, "workload": "pp"}
    unsampled = MeshTracer(Tracing(sampling=0, provider=provider), **kw)
    sampled = MeshTracer(Tracing(sampling=100, provider=provider), **kw)
    sampled.tracer()  # the provider resolved once, as after a workload's first span
    raw = [(b"host", b"bench"), (b"accept", b"*/*"), (b"user-agent", b"python-httpx/0.28.1")]
    tp = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    deferred = TraceContext(b"4bf92f3577b34da6a3ce929d0e0e4736", b"00f067aa0ba902b7", None)
    inbound = InboundContext(b"6b2f8a0e-5b1c-4b43-9c57-4f8e1a2b3c4d", [(b"traceparent", tp)])
    traced = InboundContext(inbound.request_id, [])
    traced.trace = deferred
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": "/productpage",
        "query_string": b"",
        "headers": [*raw, (b"traceparent", tp)],
        "server": ("127.0.0.1", 9080),
        "client": ("127.0.0.1", 50000),
        "http_version": "1.1",
    }
    request = httpx.Request("GET", "http://bench/")
    call = SimpleNamespace(
        request=request,
        view=SimpleNamespace(host="bench", port=80),
        headers=raw,
        cluster=None,
        route=None,
        attempts=1,
    )

    def not_configured_inbound() -> None:
        token = _inbound.set(InboundContext(inbound.request_id, list(inbound.headers)))
        _inbound.reset(token)

    def server_span() -> None:
        ctx = InboundContext(inbound.request_id, [(b"traceparent", tp)])
        end_server_span(start_server_span(sampled, scope, ctx, service_host="pp"), 200)

    def client_span() -> None:
        _, trace = outbound_headers(raw, traced, sampled)
        assert isinstance(trace, ClientTrace)
        ex = SimpleNamespace(core=SimpleNamespace(headers=raw), endpoint_key="127.0.0.1:9080")
        trace.attempt(call, ex)
        trace.finish(call, 200, "")

    cases = [
        ("inbound bookkeeping, tracing not configured", not_configured_inbound),
        ("outbound headers, tracing not configured", lambda: outbound_headers(raw, inbound, None)),
        ("parse an inbound traceparent", lambda: parse_headers([(b"traceparent", tp)])),
        ("outbound headers, unsampled", lambda: outbound_headers(raw, traced, unsampled)),
        ("server span, sampled (start + end)", server_span),
        ("client span, sampled (headers + start + end)", client_span),
    ]
    print("tracing code alone, pure CPU, us per request (timeit, best of 5)")
    for name, fn in cases:
        n = 2000 if "sampled (" in name else 20000
        best = min(timeit.repeat(fn, number=n, repeat=5)) / n
        print(f"  {name:<48} {best * 1e6:8.2f}")
    provider.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000, help="per client per round")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--sync", action="store_true", help="measure httpx.Client instead")
    ap.add_argument("--quick", action="store_true", help="500 requests x 4 rounds")
    ap.add_argument("--micro", action="store_true", help="only the tracing code, pure CPU")
    ap.add_argument(
        "--counts",
        type=int,
        metavar="N",
        help="count, do not time: instructions (callgrind), Python calls and syscalls per "
        "request over N requests, raw httpx / inmesh / inmesh+policy / trace 1%% "
        "(see _outbound_counts.py)",
    )
    ap.add_argument("--no-callgrind", action="store_true", help="--counts without callgrind")
    ap.add_argument(
        "--columns",
        help="--counts: a comma-separated subset of " + ", ".join(COUNT_COLUMNS) + " (raw httpx "
        "always counted first)",
    )
    ap.add_argument("--count-child", choices=COUNT_COLUMNS, help=argparse.SUPPRESS)
    ap.add_argument("--ports", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.micro:
        micro()
        return
    if a.count_child:
        count_child(a.count_child, [int(p) for p in a.ports.split(",")], a.requests, a.sync)
        return
    if a.counts:
        with Servers([0.0] * len(VERSIONS)) as servers:
            columns = a.columns.split(",") if a.columns else None
            for c in columns or []:
                if c not in COUNT_COLUMNS:
                    ap.error(f"--columns: {c!r} is not one of {', '.join(COUNT_COLUMNS)}")
            counts(servers.ports, a.counts, a.sync, callgrind=not a.no_callgrind, columns=columns)
        return
    requests, rounds = (500, 4) if a.quick else (a.requests, a.rounds)
    with Servers([0.0] * len(VERSIONS)) as servers:
        if a.sync:
            series = run_sync(servers.ports, requests, rounds)
        else:
            series = asyncio.run(run_async(servers.ports, requests, rounds))
    report(series, requests=requests, rounds=rounds, mode="sync" if a.sync else "async")
    costs(series)
    micro()
    sys.exit(0)


if __name__ == "__main__":
    main()
