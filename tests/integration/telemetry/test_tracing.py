"""Traces across three real workloads: productpage -> reviews -> ratings, each a uvicorn app
behind MeshMiddleware calling the next through the mesh's transport, none forwarding a
header. An OTLP/HTTP receiver (a starlette app decoding ``ExportTraceServiceRequest``)
must get one trace with correct parent links, and ratings must see productpage's
``x-request-id``."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import inmesh
from inmesh.telemetry import _otel
from tests.integration.registry.conftest import spawn_registry
from tests.integration.test_serve import SERVICE, Instance
from tests.servers import RunningServer, start_server

pytestmark = pytest.mark.integration

SERVER, CLIENT = 2, 3  # the OTLP proto's SpanKind values


class Receiver:
    """An OTLP/HTTP trace receiver: every span it is sent, with its service name."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, Any]] = []
        self.changed = threading.Condition()

    async def traces(self, request: Request) -> Response:
        msg = ExportTraceServiceRequest()
        msg.ParseFromString(await request.body())
        with self.changed:
            for rs in msg.resource_spans:
                service = next(
                    a.value.string_value for a in rs.resource.attributes if a.key == "service.name"
                )
                for ss in rs.scope_spans:
                    self.spans.extend((service, s) for s in ss.spans)
            self.changed.notify_all()
        return Response(b"", media_type="application/x-protobuf")

    def wait_for(self, count: int) -> list[tuple[str, Any]]:
        with self.changed:
            self.changed.wait_for(lambda: len(self.spans) >= count, timeout=20)
            return list(self.spans)


def attrs(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in span.attributes:
        v = a.value
        out[a.key] = v.string_value if v.HasField("string_value") else v.int_value
    return out


def entries(name: str, port: int) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {name}}}
spec:
  hosts: [{name}.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 9080, name: http, protocol: HTTP}}]
  workloadSelector: {{labels: {{app: {name}}}}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: {name}-v1}}
spec:
  address: 127.0.0.1
  ports: {{http: {port}}}
  labels: {{app: {name}, version: v1}}
"""


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Receiver, RunningServer]]:
    rec = Receiver()
    server = start_server(Starlette(routes=[Route("/v1/traces", rec.traces, methods=["POST"])]))
    # the standard variables only: the mesh builds its exporter from them
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", server.url)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    saved = dict(_otel._providers)
    _otel._providers.clear()  # providers are per process; this test wants its own
    yield rec, server
    for p in _otel._providers.values():
        p.shutdown()
    _otel._providers.clear()
    _otel._providers.update(saved)
    server.stop()


def test_one_trace_across_three_workloads_with_no_forwarding_in_the_apps(
    receiver: tuple[Receiver, RunningServer], tmp_path: Path
) -> None:
    rec, _ = receiver
    started: list[RunningServer] = []
    meshes: list[inmesh.Mesh] = []

    def workload(name: str, app: Any, config: str | None = None) -> inmesh.Mesh:
        cfg = None
        if config is not None:
            cfg = tmp_path / f"{name}.yaml"
            cfg.write_text(config)
        mesh = inmesh.Mesh(service=name, labels={"app": name, "version": "v1"}, config=cfg)
        meshes.append(mesh)
        started.append(start_server(inmesh.MeshMiddleware(app(mesh), mesh=mesh)))
        return mesh

    def ratings(mesh: inmesh.Mesh) -> Any:
        async def rate(request: Request) -> JSONResponse:
            return JSONResponse({"x-request-id": request.headers.get("x-request-id")})

        return Starlette(routes=[Route("/ratings/{id}", rate)])

    def reviews(mesh: inmesh.Mesh) -> Any:
        client = mesh.sync_client()

        def review(request: Request) -> JSONResponse:  # sync: run in starlette's threadpool
            answer = client.get("http://ratings:9080/ratings/0")
            return JSONResponse({"ratings": answer.json()})

        return Starlette(routes=[Route("/reviews/{id}", review)])

    def productpage(mesh: inmesh.Mesh) -> Any:
        async def page(request: Request) -> JSONResponse:
            async with mesh.client() as client:
                answer = await client.get("http://reviews:9080/reviews/0")
            own = request.headers.get("x-request-id")
            return JSONResponse({"x-request-id": own, "reviews": answer.json()})

        return Starlette(routes=[Route("/productpage", page)])

    try:
        workload("ratings", ratings)
        workload("reviews", reviews, entries("ratings", started[-1].port))
        workload("productpage", productpage, entries("reviews", started[-1].port))
        # configured by the OTEL_* environment alone, sampling everything (always_on)
        assert all(m.tracing is not None and m.tracing.settings.sampling == 100 for m in meshes)
        answer = httpx.get(f"{started[-1].url}/productpage", trust_env=False)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        for mesh in meshes:
            assert mesh.tracing is not None
            mesh.tracing.force_flush()  # the spans buffered by the BatchSpanProcessor
        spans = rec.wait_for(5)
    finally:
        for s in started:
            s.stop()

    # x-request-id: generated by productpage's middleware, carried to ratings untouched
    assert body["x-request-id"]
    assert body["reviews"]["ratings"]["x-request-id"] == body["x-request-id"]

    assert len(spans) == 5
    assert len({s.trace_id for _, s in spans}) == 1  # one trace
    by_kind = {(service, s.kind): s for service, s in spans}
    pp_server = by_kind[("productpage.default", SERVER)]
    pp_client = by_kind[("productpage.default", CLIENT)]
    rv_server = by_kind[("reviews.default", SERVER)]
    rv_client = by_kind[("reviews.default", CLIENT)]
    rt_server = by_kind[("ratings.default", SERVER)]
    assert pp_server.parent_span_id == b""  # the root
    assert pp_client.parent_span_id == pp_server.span_id
    assert rv_server.parent_span_id == pp_client.span_id
    assert rv_client.parent_span_id == rv_server.span_id
    assert rt_server.parent_span_id == rv_client.span_id
    # Istio's trace operation names and the tags Istio's tools read
    assert pp_client.name == "reviews.default.svc.cluster.local:9080/*"
    # (inbound: the port the workload listens on, where Istio's sidecar names the service's)
    assert rt_server.name == f"ratings.default.svc.cluster.local:{started[0].port}/*"
    client_attrs = attrs(pp_client)
    assert client_attrs["upstream_cluster"] == "outbound|9080||reviews.default.svc.cluster.local"
    assert client_attrs["http.response.status_code"] == 200
    assert client_attrs["inmesh.attempts"] == 1
    assert client_attrs["guid:x-request-id"] == body["x-request-id"]
    assert attrs(rt_server)["guid:x-request-id"] == body["x-request-id"]
    assert attrs(rv_server)["istio.canonical_service"] == "reviews"
    assert json.dumps(body)  # the answer made it back whole


def test_inmesh_serve_traces_by_the_otel_environment_alone(
    receiver: tuple[Receiver, RunningServer], tmp_path: Path
) -> None:
    """`inmesh serve` with only OTEL_EXPORTER_OTLP_ENDPOINT set (the fixture's environment,
    which the process inherits): a sampled caller's request gets a server span, exported
    when the workload exits."""
    rec, _ = receiver
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    registry = spawn_registry(tmp_path / "registry")
    try:
        assert registry.apply(SERVICE).status_code == 200
        served = Instance(registry)
        try:
            answer = httpx.get(
                f"http://127.0.0.1:{served.port}/",
                headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"},
                trust_env=False,
            )
            assert answer.status_code == 200
        finally:
            assert served.stop() == 0  # the SDK's exit hook flushes the batch
    finally:
        registry.stop()
    [(service, span)] = rec.wait_for(1)
    assert service == "echo.default"  # Istio's service cluster: <app>.<namespace>
    assert span.kind == SERVER and span.trace_id.hex() == trace
    assert span.parent_span_id.hex() == "00f067aa0ba902b7"
