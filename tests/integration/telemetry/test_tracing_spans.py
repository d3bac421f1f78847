"""Spans and propagation against real servers, spans caught by an in-memory exporter:
one client span per attempt on retries, the attributes, what an outbound request carries
with and without tracing, and the app's own headers left alone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import inmesh
from inmesh.telemetry import HeaderTag, Tracing
from tests.servers import RunningServer, echo_app, start_server

pytestmark = pytest.mark.integration

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    p = TracerProvider()
    p.add_span_processor(SimpleSpanProcessor(exporter))
    return p


@pytest.fixture(scope="module")
def echo() -> Iterator[RunningServer]:
    server = start_server(echo_app("ratings", "v1"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def flaky() -> Iterator[RunningServer]:
    """503 to every odd request, 200 to every even one: a retry succeeds."""
    seen = {"n": 0}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen["n"] += 1
        status = 503 if seen["n"] % 2 else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    server = start_server(app)
    yield server
    server.stop()


def mesh_config(tmp_path: Path, port: int) -> Path:
    cfg = tmp_path / "mesh.yaml"
    cfg.write_text(f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: ratings}}
spec:
  hosts: [ratings.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 9080, name: http, protocol: HTTP}}]
  endpoints: [{{address: 127.0.0.1, ports: {{http: {port}}}, labels: {{version: v1}}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: ratings}}
spec:
  host: ratings
  subsets: [{{name: v1, labels: {{version: v1}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: ratings}}
spec:
  hosts: [ratings]
  http:
  - name: ratings-route
    route: [{{destination: {{host: ratings, subset: v1}}}}]
    retries: {{attempts: 2, retryOn: 5xx}}
""")
    return cfg


def inbound_calling(mesh: inmesh.Mesh, url: str, headers: dict[str, str] | None = None) -> Any:
    """An app that makes one outbound request through the mesh and answers with what the
    upstream saw (the echo's JSON) or its status."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        async with mesh.client() as client:
            answer = await client.get(url, headers=headers)
        body = answer.content if answer.status_code == 200 else b"{}"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return inmesh.MeshMiddleware(app, mesh=mesh)


async def call(app: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://productpage:9080") as c:
        answer = await c.get("/productpage", headers=headers)
    seen: dict[str, Any] = json.loads(answer.content)
    return seen.get("headers", {})


def by_kind(spans: tuple[ReadableSpan, ...], kind: SpanKind) -> list[ReadableSpan]:
    return [s for s in spans if s.kind == kind]


@pytest.mark.anyio
async def test_one_client_span_per_attempt(
    tmp_path: Path, flaky: RunningServer, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    mesh = inmesh.Mesh(
        service="productpage",
        config=mesh_config(tmp_path, flaky.port),
        tracing=Tracing(
            sampling=100, provider=provider, custom_tags={"user": HeaderTag("x-user", "anon")}
        ),
    )
    app = inbound_calling(mesh, "http://ratings:9080/ratings/1")
    await call(app, {"traceparent": f"00-{TRACE}-{PARENT}-01"})
    spans = exporter.get_finished_spans()
    [server] = by_kind(spans, SpanKind.SERVER)
    first, second = sorted(by_kind(spans, SpanKind.CLIENT), key=lambda s: s.start_time or 0)
    assert server.parent is not None and f"{server.parent.span_id:016x}" == PARENT
    assert f"{server.context.trace_id:032x}" == TRACE
    for s in (first, second):  # siblings under the server span
        assert s.parent is not None and s.parent.span_id == server.context.span_id
        assert s.attributes is not None
        assert (
            s.attributes["upstream_cluster"] == "outbound|9080|v1|ratings.default.svc.cluster.local"
        )
        assert s.attributes["inmesh.route"] == "ratings-route"
        assert s.attributes["inmesh.subset"] == "v1"
        assert s.attributes["http.request.method"] == "GET"
        assert s.attributes["url.full"] == "http://ratings:9080/ratings/1"
        assert s.attributes["server.address"] == "ratings"
        assert s.attributes["server.port"] == 9080
        assert s.attributes["network.peer.port"] == flaky.port
        assert s.attributes["user"] == "anon"
        assert s.name == "ratings.default.svc.cluster.local:9080/*"
    assert first.attributes is not None and second.attributes is not None
    assert first.attributes["http.response.status_code"] == 503
    assert first.attributes["error.type"] == "503"
    assert "http.request.resend_count" not in first.attributes
    assert second.attributes["http.request.resend_count"] == 1
    assert second.attributes["http.response.status_code"] == 200
    assert second.attributes["inmesh.attempts"] == 2
    assert second.attributes["response_flags"] == "-"
    assert "error.type" not in second.attributes
    assert server.attributes is not None
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["url.path"] == "/productpage"
    assert server.attributes["server.address"] == "productpage"
    assert server.attributes["user"] == "anon"


@pytest.mark.anyio
async def test_a_failure_without_response_is_an_error_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    mesh = inmesh.Mesh(service="productpage", tracing=Tracing(sampling=100, provider=provider))
    await call(inbound_calling(mesh, "http://127.0.0.1:1/"))  # nothing listens there
    [client] = by_kind(exporter.get_finished_spans(), SpanKind.CLIENT)
    assert client.attributes is not None
    assert client.attributes["upstream_cluster"] == "PassthroughCluster"
    assert client.attributes["error.type"] == "connect_failure"
    assert client.attributes["response_flags"] == "UF"


@pytest.mark.anyio
async def test_without_tracing_the_inbound_headers_are_forwarded_unchanged(
    echo: RunningServer,
) -> None:
    mesh = inmesh.Mesh(service="productpage", tracing=False)
    sent = {
        "traceparent": f"00-{TRACE}-{PARENT}-01",
        "tracestate": "congo=t61rcWkgMzE",
        "baggage": "user=alice",
        "x-b3-traceid": TRACE,
        "x-b3-spanid": PARENT,
        "x-b3-sampled": "1",
        "x-request-id": "req-1",
        "x-unrelated": "not forwarded",
    }
    seen = await call(inbound_calling(mesh, f"{echo.url}/"), sent)
    for name, value in sent.items():
        if name == "x-unrelated":
            assert name not in seen
        else:
            assert seen[name] == value


@pytest.mark.anyio
async def test_headers_the_app_sets_are_not_overwritten(echo: RunningServer) -> None:
    mesh = inmesh.Mesh(service="productpage", tracing=False)
    own = {"x-request-id": "app-own", "traceparent": f"00-{'1' * 32}-{'2' * 16}-00"}
    app = inbound_calling(mesh, f"{echo.url}/", own)
    seen = await call(app, {"x-request-id": "req-1", "traceparent": f"00-{TRACE}-{PARENT}-01"})
    assert seen["x-request-id"] == "app-own"
    assert seen["traceparent"] == own["traceparent"]
    assert "x-b3-traceid" not in seen  # the app's trace context is kept whole


@pytest.mark.anyio
async def test_a_traced_request_continues_the_app_trace_context(
    echo: RunningServer, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """As an Envoy sidecar: the app's own traceparent is the parent of the mesh's span."""
    mesh = inmesh.Mesh(service="productpage", tracing=Tracing(sampling=100, provider=provider))
    app_span = "2" * 16
    own = {"traceparent": f"00-{'1' * 32}-{app_span}-01"}
    seen = await call(inbound_calling(mesh, f"{echo.url}/", own))
    [client] = by_kind(exporter.get_finished_spans(), SpanKind.CLIENT)
    assert client.parent is not None and f"{client.parent.span_id:016x}" == app_span
    assert seen["traceparent"] == f"00-{'1' * 32}-{client.context.span_id:016x}-01"
    assert not any(name.startswith("x-b3-") for name in seen)  # W3C in, W3C out


@pytest.mark.anyio
async def test_unsampled_requests_carry_the_decision_and_make_no_span(
    echo: RunningServer, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    mesh = inmesh.Mesh(service="productpage", tracing=Tracing(sampling=100, provider=provider))
    seen = await call(inbound_calling(mesh, f"{echo.url}/"), {"b3": f"{TRACE}-{PARENT}-0"})
    assert exporter.get_finished_spans() == ()
    # the trace continues, unsampled, in W3C and both B3 forms (the caller used b3 single)
    assert seen["traceparent"].startswith(f"00-{TRACE}-") and seen["traceparent"].endswith("-00")
    assert seen["x-b3-traceid"] == TRACE and seen["x-b3-sampled"] == "0"
    trace, span, sampled, parent = seen["b3"].split("-")
    assert (trace, span, sampled) == (TRACE, seen["x-b3-spanid"], "0")
    assert parent == seen["x-b3-parentspanid"]  # the (unrecorded) server span's id
    assert seen["x-request-id"]  # generated by the middleware, carried out


@pytest.mark.anyio
async def test_a_new_sampled_trace_from_b3_multi(
    echo: RunningServer, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    mesh = inmesh.Mesh(service="productpage", tracing=Tracing(sampling=0, provider=provider))
    sent = {"x-b3-traceid": TRACE, "x-b3-spanid": PARENT, "x-b3-sampled": "1"}
    seen = await call(inbound_calling(mesh, f"{echo.url}/"), sent)
    spans = exporter.get_finished_spans()  # sampled upstream: recorded despite 0%
    [server] = by_kind(spans, SpanKind.SERVER)
    [client] = by_kind(spans, SpanKind.CLIENT)
    assert seen["x-b3-traceid"] == TRACE
    assert seen["x-b3-spanid"] == f"{client.context.span_id:016x}"
    assert seen["x-b3-parentspanid"] == f"{server.context.span_id:016x}"
    assert seen["x-b3-sampled"] == "1"
