"""The in-process harness of ``inbound.py --micro``: ``MeshMiddleware`` driven with the scope
uvicorn's h11 protocol and the mesh listener hand it, no sockets, no event loop.

Each request is one coroutine run to completion with ``coro.send(None)`` (the app never
waits), with a fresh scope dict as uvicorn builds one per request and the headers a mesh
peer sends: Host, Accept, User-Agent, an ``x-request-id``, the caller's metadata exchange
pair (``x-envoy-peer-metadata-id``, ``x-envoy-peer-metadata``) and its trace context
(``traceparent``, as a mesh peer writes it; a new trace id per request, sampled 1
request in 100 as a 1% caller samples them). The figures are microseconds per request of
pure CPU (GC on), the best of ``--repeat`` rounds of ``--number`` requests (rounds
interleave the variants); "x bare" is against the app called directly with the same scope.

Variants (the server's Mesh is ``payments`` in ``shop``, ``app``/``version`` labels, the
listener's mTLS connection from ``spiffe://cluster.local/ns/shop/sa/front``):

- ``bare``: the app alone;
- ``default``: ``MeshMiddleware`` with a Mesh as a user gets it (metrics on, tracing not
  configured), no policy;
- ``telemetry``: the same with tracing at 1% (``Tracing(sampling=1)``, an SDK provider
  whose exporter drops the spans);
- ``mesh``: ``telemetry`` + the 20 x 5 AuthorizationPolicies of ``authz.py`` (allowed by
  the last rule): what ``inbound.py``'s ``mesh`` server runs.
"""

from __future__ import annotations

import atexit
import os
import shutil
import ssl
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from inmesh.security import CertificateAuthority, SpiffeId

VARIANTS = ["bare", "default", "telemetry", "mesh"]
PORT = 15006
FRONT = SpiffeId.of("shop", "front")
PAYMENTS = SpiffeId.of("shop", "payments")
LABELS = {"app": "payments", "version": "v1"}


def drop_provider() -> Any:
    """An OpenTelemetry SDK provider that batches spans and drops them (the SDK's cost,
    no network)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Drop()))
    return provider


def peer_headers(n: int) -> list[tuple[bytes, bytes]]:
    """Request ``n``'s headers from a mesh peer (``front``, 1% tracing)."""
    from inmesh.telemetry import TraceContext
    from inmesh.telemetry._exchange import exchange_headers
    from inmesh.telemetry._propagation import format_headers

    exchange = exchange_headers(
        workload="front-v1", namespace="shop", labels={"app": "front", "version": "v1"},
        service_account="front",
    )  # fmt: skip
    trace = TraceContext(os.urandom(16).hex().encode(), os.urandom(8).hex().encode(), n % 100 == 0)
    return [
        (b"host", b"payments.shop.svc.cluster.local"),
        (b"accept", b"*/*"),
        (b"accept-encoding", b"gzip, deflate"),
        (b"connection", b"keep-alive"),
        (b"user-agent", b"bench"),
        (b"x-request-id", os.urandom(16).hex().encode()),
        *exchange,
        *format_headers(trace),
    ]


def app_factory() -> Any:
    headers = [(b"content-type", b"application/json")]
    body = {"type": "http.response.body", "body": b'{"ok": true}'}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(body)

    return app


def build(variant: str, ca: CertificateAuthority, ca_dir: str) -> Any:
    """The ASGI callable of ``variant``."""
    app = app_factory()
    if variant == "bare":
        return app
    import inmesh
    from inmesh.telemetry import Tracing

    config: Any = None
    if variant == "mesh":
        from authz import _policies

        from inmesh.config import parse_documents

        config = parse_documents(_policies())
    tracing: Any = False
    if variant in ("telemetry", "mesh"):
        tracing = Tracing(sampling=1, provider=drop_provider())
    mesh = inmesh.Mesh(
        service="payments", namespace="shop", labels=LABELS, config=config, tracing=tracing,
        ca=ca_dir,
    )  # fmt: skip
    return inmesh.MeshMiddleware(app, mesh=mesh)


def connection(ca: CertificateAuthority) -> Any:
    """The listener's InboundConnection for a ``front`` client certificate."""
    from inmesh.inbound._peer import InboundConnection, Peer
    from inmesh.inbound._xfcc import client_cert_details

    _, issued = ca.issue(FRONT)
    pem = issued.chain_pem.decode().split("-----END CERTIFICATE-----")[0]
    der = ssl.PEM_cert_to_DER_cert(pem + "-----END CERTIFICATE-----\n")
    return InboundConnection(
        mtls=True,
        peer=Peer.from_identity(FRONT),
        sni="outbound_.8080_._.payments.shop.svc.cluster.local",
        client_cert_details=client_cert_details(der, local_uri=PAYMENTS.uri),
    )


def h11_send(connection: Any = None) -> Any:
    """An ASGI ``send`` that answers as uvicorn's h11 protocol does on a keep-alive
    connection (``RequestResponseCycle.send``: its default headers + the app's into an
    ``h11.Response``, then the body and the end of the message, then the next cycle): what
    the answer's headers cost h11 in a server, which a no-op ``send`` leaves out. Each
    request first feeds h11 a minimal GET (the same for every variant). ``connection``: the
    h11 connection class (default: h11's, as uvicorn's own protocol)."""
    import h11
    from uvicorn.protocols.http.h11_impl import STATUS_PHRASES

    conn = (connection or h11.Connection)(h11.SERVER)
    request = b"GET /pay/42?x=1 HTTP/1.1\r\nhost: payments\r\n\r\n"
    default = [(b"server", b"uvicorn"), (b"date", b"Mon, 30 Nov 2026 11:00:00 GMT")]
    end = h11.EndOfMessage()

    async def send(message: Any) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if conn.our_state is h11.DONE:
                conn.start_next_cycle()
            conn.receive_data(request)
            conn.next_event()
            conn.next_event()
            status = message["status"]
            headers = default + list(message.get("headers", []))
            conn.send(
                h11.Response(status_code=status, headers=headers, reason=STATUS_PHRASES[status])
            )
        elif kind == "http.response.body":
            conn.send(h11.Data(data=message.get("body", b"")))
            if not message.get("more_body", False):
                conn.send(end)

    from inmesh.inbound._h11 import MeshH11Connection

    # what the mesh listener offers in the scope (run): its connection, which writes the
    # workload's pair when the middleware sets it
    send.answer_to = conn if isinstance(conn, MeshH11Connection) else None  # type: ignore[attr-defined]
    return send


def run(variants: list[str], *, number: int, repeat: int, wire: bool = False) -> dict[str, float]:
    """Microseconds per request, best of ``repeat`` rounds, for each variant (``wire``: the
    answer goes through h11 as uvicorn sends it, :func:`h11_send`; ``bare`` with h11's
    connection as uvicorn's own protocol, the others with the mesh listener's)."""
    from inmesh.inbound._peer import ANSWER_KEY, CONNECTION_KEY

    ca_dir = os.path.join(tempfile.mkdtemp(prefix="inmesh-bench-ca-"), "ca")
    ca = CertificateAuthority.init_root(ca_dir)
    atexit.register(shutil.rmtree, os.path.dirname(ca_dir), True)
    conn = connection(ca)
    extension = {"tls": {"client_cert_chain": [], "tls_version": 0x0304}}
    requests = [peer_headers(n) for n in range(1000)]
    base = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", PORT),
        "client": ("127.0.0.1", 51234),
        "scheme": "https",
        "method": "GET",
        "root_path": "",
        "path": "/pay/42",
        "raw_path": b"/pay/42",
        "query_string": b"x=1",
        "state": {},
        "extensions": extension,
        CONNECTION_KEY: conn,
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def no_send(message: Any) -> None:
        return None

    def sender(variant: str) -> Any:
        if not wire:
            return no_send
        if variant == "bare":  # uvicorn's own protocol
            return h11_send()
        from inmesh.inbound._h11 import connection_class

        return h11_send(connection_class())  # the mesh listener's

    sends = {variant: sender(variant) for variant in variants}

    def timed(target: Any, n: int, send: Any) -> float:
        count = len(requests)
        t0 = time.perf_counter()
        answer_to = getattr(send, "answer_to", None)  # the listener's connection
        for i in range(n):
            scope = dict(base)
            scope["headers"] = list(requests[i % count])
            if answer_to is not None:  # as MeshProtocol._with_connection offers it
                answer_to.inmesh_send = send
                scope[ANSWER_KEY] = answer_to
            coro = target(scope, receive, send)
            try:  # noqa: SIM105  (cheaper than contextlib.suppress, inside the timing)
                coro.send(None)
            except StopIteration:
                pass
        return time.perf_counter() - t0

    targets = {variant: build(variant, ca, ca_dir) for variant in variants}
    for variant, target in targets.items():
        timed(target, min(number, 2000), sends[variant])
    # rounds interleave the variants, so that a load change on a shared machine hits all
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(repeat):
        for variant, target in targets.items():
            best[variant] = min(best[variant], timed(target, number, sends[variant]))
    return {variant: t / number * 1e6 for variant, t in best.items()}


def report(figures: dict[str, float]) -> None:
    bare = figures.get("bare")
    print(f"{'':10} {'us/request':>11} {'over bare':>10}")
    for variant, us in figures.items():
        over = f"{us - bare:10.2f}" if bare is not None else ""
        print(f"{variant:10} {us:11.2f} {over}")


def instrumented(mesh: Any, app: Any, kind: str) -> Any:
    """``MeshMiddleware(app, mesh=mesh)`` timed in the server (``INMESH_BENCH_SECTIONS=1``):
    the middleware's own time per request (all but the app and what it sends) and, inside
    it, the metadata exchange decode, the trace decision, the record with its hooks and the
    metrics hook alone; medians printed to stderr when the server stops. The timers add
    ~1 us each; the point is where the time goes in a server, where it is several times
    the in-process figure."""
    import atexit
    import statistics
    import sys

    import inmesh
    import inmesh._middleware as middleware
    from inmesh.inbound._record import InboundRecorder

    times: dict[str, list[float]] = {}

    def timed(name: str, fn: Any) -> Any:
        acc = times.setdefault(name, [])

        def call(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                acc.append(time.perf_counter() - t0)

        return call

    middleware.peer_from_headers = timed("exchange decode", middleware.peer_from_headers)  # type: ignore[attr-defined]
    sampled = timed("sampled span", middleware.start_sampled_server_span)
    middleware.start_sampled_server_span = sampled  # type: ignore[attr-defined]
    InboundRecorder.emit = timed("record + hooks", InboundRecorder.emit)  # type: ignore[method-assign]
    # on the class, so that the hook stays a MetricsHook (the record-free path checks)
    hook_class = inmesh.telemetry.MetricsHook
    hook_class.__call__ = timed("metrics hook", hook_class.__call__)  # type: ignore[method-assign]
    hook_class.count = timed("metrics hook", hook_class.count)  # type: ignore[method-assign]
    hook_class.count_by = timed("metrics hook", hook_class.count_by)  # type: ignore[method-assign]
    inner_times: list[float] = []
    outer_times: list[float] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        t0 = time.perf_counter()
        await app(scope, receive, send)
        inner_times.append(time.perf_counter() - t0)

    wrapped = inmesh.MeshMiddleware(inner, mesh=mesh)

    async def outer(scope: Any, receive: Any, send: Any) -> None:
        t0 = time.perf_counter()
        await wrapped(scope, receive, send)
        outer_times.append(time.perf_counter() - t0)

    def report() -> None:
        own = [o - i for o, i in zip(outer_times, inner_times, strict=False)]
        rows = [("middleware own", own), *times.items()]
        text = ", ".join(f"{n} {statistics.median(v) * 1e6:.1f}" for n, v in rows if v)
        print(f"{kind}: median us per request in the server: {text}", file=sys.stderr)

    atexit.register(report)
    return outer
