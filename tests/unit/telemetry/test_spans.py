"""Server spans and the inbound context, MeshMiddleware driven as a plain ASGI app."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import yaml
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from inmesh import Mesh, MeshMiddleware
from inmesh.config import parse_documents
from inmesh.telemetry import InboundContext, TraceContext, Tracing, current_inbound
from inmesh.telemetry._propagation import B3_MULTI

DENY_ALL_BUT_FRONTEND = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: payments, namespace: shop}
spec:
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/shop/sa/frontend"]}}]
"""
TP = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def mesh(exporter: InMemorySpanExporter, sampling: float = 100, config: str = "") -> Mesh:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    resources = list(parse_documents(list(yaml.safe_load_all(config)))) if config else None
    return Mesh(
        service="payments",
        namespace="shop",
        labels={"app": "payments", "version": "v3"},
        config=resources,
        tracing=Tracing(sampling=sampling, provider=provider),
    )


def run(app: Any, headers: list[tuple[bytes, bytes]], status: int = 200) -> list[Any]:
    sent: list[Any] = []
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/pay",
        "raw_path": b"/pay",
        "query_string": b"card=1",
        "headers": [(b"host", b"payments:8080"), *headers],
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.2", 50000),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(MeshMiddleware(app, mesh=app.mesh)(scope, receive, send))
    return sent


class App:
    """Answers ``status`` and keeps the inbound context it ran with."""

    def __init__(self, m: Mesh, status: int = 200) -> None:
        self.mesh = m
        self.status = status
        self.seen: list[InboundContext | None] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.seen.append(current_inbound())
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def test_a_server_span_continues_the_callers_trace(exporter: InMemorySpanExporter) -> None:
    app = App(mesh(exporter))
    run(app, [(b"traceparent", TP), (b"x-request-id", b"r-1"), (b"user-agent", b"ua")])
    [span] = exporter.get_finished_spans()
    assert span.kind == SpanKind.SERVER
    assert span.name == "payments.shop.svc.cluster.local:8080/*"
    assert span.parent is not None and span.parent.span_id == 0x00F067AA0BA902B7
    assert span.context.trace_id == 0x4BF92F3577B34DA6A3CE929D0E0E4736
    assert span.attributes == {
        "istio.canonical_service": "payments",
        "istio.canonical_revision": "v3",
        "istio.namespace": "shop",
        "istio.mesh_id": "unknown",
        "istio.cluster_id": "unknown",
        "node_id": "payments-v3.shop",
        "http.request.method": "POST",
        "url.path": "/pay",
        "url.query": "card=1",
        "url.scheme": "http",
        "server.port": 8080,
        "server.address": "payments",
        "user_agent.original": "ua",
        "client.address": "127.0.0.2",
        "network.peer.address": "127.0.0.2",
        "network.protocol.version": "1.1",
        "guid:x-request-id": "r-1",
        "upstream_cluster": "inbound|8080||",
        "http.response.status_code": 200,
        "response_flags": "-",
    }
    # the app ran with the context outbound requests continue: this span's
    [ctx] = app.seen
    assert ctx is not None and ctx.request_id == b"r-1"
    assert ctx.trace is not None and ctx.trace.span_id == b"%016x" % span.context.span_id
    assert ctx.headers == [(b"traceparent", TP)]
    assert current_inbound() is None  # reset after the request


def test_a_5xx_is_an_error(exporter: InMemorySpanExporter) -> None:
    run(App(mesh(exporter), status=503), [])
    [span] = exporter.get_finished_spans()
    assert span.attributes is not None and span.attributes["error.type"] == "503"
    assert span.status.status_code == StatusCode.ERROR
    assert span.parent is None  # a new trace


def test_a_denied_request_has_its_span(exporter: InMemorySpanExporter) -> None:
    app = App(mesh(exporter, config=DENY_ALL_BUT_FRONTEND))
    sent = run(app, [])
    assert sent[0]["status"] == 403 and app.seen == []
    [span] = exporter.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 403
    assert str(span.attributes["inmesh.authorization"]).startswith("DENY")


def test_unsampled_makes_no_span_but_a_context(exporter: InMemorySpanExporter) -> None:
    app = App(mesh(exporter, sampling=0))
    run(app, [])
    assert exporter.get_finished_spans() == ()
    [ctx] = app.seen
    assert ctx is not None and ctx.trace is not None and ctx.trace.sampled is False
    assert ctx.request_id  # generated


def test_an_upstream_unsampled_decision_is_kept(exporter: InMemorySpanExporter) -> None:
    app = App(mesh(exporter, sampling=100))
    run(app, [(b"traceparent", TP[:-2] + b"00")])
    assert exporter.get_finished_spans() == ()
    [ctx] = app.seen
    assert ctx is not None and ctx.trace is not None
    assert ctx.trace.trace_id == b"4bf92f3577b34da6a3ce929d0e0e4736"
    assert ctx.trace.parent_span_id == b"00f067aa0ba902b7" and ctx.trace.sampled is False


# -- outbound_headers: what an outbound request carries (pure) ------------------------------

RAW = [(b"host", b"ratings"), (b"User-Agent", b"ua")]


def tracer(sampling: float) -> Any:
    from inmesh.telemetry import MeshTracer

    return MeshTracer(
        Tracing(sampling=sampling), service="pp", namespace="d", labels={}, workload="pp"
    )


def test_outbound_without_tracing_forwards_what_is_missing() -> None:
    from inmesh.telemetry._spans import outbound_headers

    inbound = InboundContext(b"r-1", [(b"traceparent", TP), (b"baggage", b"k=v")])
    headers, trace = outbound_headers(RAW, inbound, None)
    assert trace is None
    assert headers == [*RAW, (b"x-request-id", b"r-1"), (b"traceparent", TP), (b"baggage", b"k=v")]
    own = [*RAW, (b"X-Request-Id", b"mine"), (b"B3", b"0")]  # the app's, any case
    headers, _ = outbound_headers(own, inbound, None)
    assert headers == [*own, (b"baggage", b"k=v")]  # no id, no trace header mixed in


def test_outbound_unsampled_continues_the_trace_with_sampled_0() -> None:
    from inmesh.telemetry._spans import outbound_headers

    inbound = InboundContext(b"r-1", [])
    inbound.trace = TraceContext(b"4bf92f3577b34da6a3ce929d0e0e4736", b"00f067aa0ba902b7", False)
    headers, trace = outbound_headers(RAW, inbound, tracer(100))
    assert trace is None  # the caller's decision holds: nothing recorded
    sent = dict(headers)
    assert sent[b"x-request-id"] == b"r-1"
    assert sent[b"traceparent"].startswith(b"00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert sent[b"traceparent"].endswith(b"-00")
    # a W3C trace goes on in W3C alone, as Envoy's OpenTelemetry tracer injects it
    assert not any(name.startswith(b"x-b3-") or name == b"b3" for name in sent)


def test_outbound_unsampled_b3_trace_continues_in_b3_multi() -> None:
    from inmesh.telemetry._spans import outbound_headers

    inbound = InboundContext(b"r-1", [])
    inbound.trace = TraceContext(
        b"4bf92f3577b34da6a3ce929d0e0e4736", b"00f067aa0ba902b7", False, format=B3_MULTI
    )
    headers, trace = outbound_headers(RAW, inbound, tracer(100))
    assert trace is None
    sent = dict(headers)
    assert sent[b"x-b3-traceid"] == b"4bf92f3577b34da6a3ce929d0e0e4736"
    assert sent[b"x-b3-parentspanid"] == b"00f067aa0ba902b7"
    assert sent[b"x-b3-sampled"] == b"0"
    assert sent[b"traceparent"].endswith(b"-00")  # and W3C, always
    assert b"b3" not in sent  # single only for a caller that used single


def test_outbound_parent_from_headers_when_the_middleware_did_not_trace() -> None:
    from inmesh.telemetry._spans import ClientTrace, outbound_headers

    inbound = InboundContext(b"r-1", [(b"traceparent", TP)])  # no trace: not traced inbound
    headers, trace = outbound_headers(RAW, inbound, tracer(0))
    assert isinstance(trace, ClientTrace)  # sampled upstream: recorded despite 0%
    assert not any(name == b"traceparent" for name, _ in headers)  # set per attempt
    assert trace._parent is not None and trace._parent.span_id == b"00f067aa0ba902b7"
