"""Istio's metadata exchange between two real workloads: the source's records learn the
destination workload and the destination's learn the source workload, and neither
application sees the headers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import inmesh
from inmesh import MeshMiddleware
from inmesh.telemetry import RequestRecord
from tests.servers import RunningServer, start_server

pytestmark = pytest.mark.integration


def entries(port: int, location: str) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: reviews}}
spec:
  hosts: [reviews.bookinfo.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 9080, name: http, protocol: HTTP}}]
  endpoints: [{{address: 127.0.0.1, ports: {{http: {port}}}, labels: {{app: reviews}}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: partner}}
spec:
  hosts: [partner.example.com]
  location: {location}
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints: [{{address: 127.0.0.1, ports: {{http: {port}}}}}]
"""


async def headers_seen(scope: Any, receive: Any, send: Any) -> None:
    """Answers with the request headers the application got."""
    seen = {k.decode(): v.decode() for k, v in scope["headers"]}
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": json.dumps(seen).encode()})


class Served:
    def __init__(self) -> None:
        self.records: list[RequestRecord] = []
        self.mesh = inmesh.Mesh(
            service="reviews",
            namespace="bookinfo",
            labels={"app": "reviews", "version": "v2"},
            metrics=False,
        )
        self.mesh.add_hook(self.records.append)
        self.server: RunningServer = start_server(MeshMiddleware(headers_seen, mesh=self.mesh))


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    s = Served()
    yield s
    s.server.stop()


def arrived(records: list[RequestRecord], source_workload: str) -> list[RequestRecord]:
    """The destination's records from ``source_workload``, once there (the middleware
    records after the response is sent, so the client may read it first)."""
    for _ in range(200):
        found = [r for r in records if r.source_workload == source_workload]
        if found:
            return found
        time.sleep(0.01)
    return []


def client_mesh(tmp_path: Path, port: int, location: str = "MESH_EXTERNAL") -> inmesh.Mesh:
    cfg = tmp_path / "mesh.yaml"
    cfg.write_text(entries(port, location))
    return inmesh.Mesh(
        service="productpage",
        namespace="bookinfo",
        labels={"app": "productpage", "version": "v1"},
        config=cfg,
        metrics=False,
    )


def test_both_sides_learn_the_other_workload(served: Served, tmp_path: Path) -> None:
    mesh = client_mesh(tmp_path, served.server.port)
    records: list[RequestRecord] = []
    mesh.add_hook(records.append)
    served.records.clear()
    with mesh.sync_client() as client:
        response = client.get("http://reviews.bookinfo.svc.cluster.local:9080/reviews/0")
    assert response.status_code == 200
    # neither application sees the exchange headers
    assert not [h for h in response.json() if h.startswith("x-envoy-peer")]
    assert not [h for h in response.headers if h.startswith("x-envoy-peer")]
    (source,) = records
    assert (source.reporter, source.destination_workload, source.destination_namespace) == (
        "source",
        "reviews-v2",
        "bookinfo",
    )
    assert dict(source.destination_labels) == {
        "app": "reviews",
        "version": "v2",
        "service.istio.io/canonical-name": "reviews",
        "service.istio.io/canonical-revision": "v2",
    }
    (destination,) = arrived(served.records, "productpage-v1")
    assert destination.reporter == "destination"
    assert (destination.source_workload, destination.source_namespace) == (
        "productpage-v1",
        "bookinfo",
    )
    assert destination.source_labels["app"] == "productpage"
    # identities come from certificates only: a plaintext caller has no principal
    assert destination.source_principal == ""


def test_nothing_is_sent_outside_the_mesh(served: Served, tmp_path: Path) -> None:
    mesh = client_mesh(tmp_path, served.server.port, location="MESH_EXTERNAL")
    records: list[RequestRecord] = []
    mesh.add_hook(records.append)
    with mesh.sync_client() as client:
        external = client.get("http://partner.example.com/")
        passthrough = client.get(f"http://127.0.0.1:{served.server.port}/")
    for response in (external, passthrough):
        assert response.status_code == 200
        assert not [h for h in response.json() if h.startswith("x-envoy-peer")]
    assert [r.destination_workload for r in records] == ["", ""]
    assert [r.cluster for r in records][1] == "PassthroughCluster"


def test_a_mesh_internal_service_entry_is_in_the_mesh(served: Served, tmp_path: Path) -> None:
    mesh = client_mesh(tmp_path, served.server.port, location="MESH_INTERNAL")
    records: list[RequestRecord] = []
    mesh.add_hook(records.append)
    with mesh.sync_client() as client:
        assert client.get("http://partner.example.com/").status_code == 200
    assert records[0].destination_workload == "reviews-v2"


def test_a_caller_without_metadata_gets_none_back(served: Served) -> None:
    import httpx

    served.records.clear()
    with httpx.Client(trust_env=False) as plain:
        response = plain.get(
            f"http://127.0.0.1:{served.server.port}/",
            headers={"baggage": "k8s.deployment.name=ratings-v1,k8s.namespace.name=ambient"},
        )
    assert not [h for h in response.headers if h.startswith("x-envoy-peer")]
    # ambient's baggage keys are read; the header itself is the application's (W3C)
    assert "baggage" in response.json()
    (record,) = arrived(served.records, "ratings-v1")
    assert record.source_namespace == "ambient"


def test_a_denied_request_still_answers_with_the_destinations_metadata(tmp_path: Path) -> None:
    policy = {
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": "only-nobody", "namespace": "bookinfo"},
        "spec": {"rules": [{"from": [{"source": {"principals": ["nobody"]}}]}]},
    }
    guarded = inmesh.Mesh(
        service="reviews",
        namespace="bookinfo",
        labels={"app": "reviews", "version": "v3"},
        config=[policy],
        metrics=False,
    )
    denied: list[RequestRecord] = []
    guarded.add_hook(denied.append)
    server = start_server(MeshMiddleware(headers_seen, mesh=guarded))
    try:
        mesh = client_mesh(tmp_path, server.port)
        records: list[RequestRecord] = []
        mesh.add_hook(records.append)
        with mesh.sync_client() as client:
            response = client.get("http://reviews.bookinfo.svc.cluster.local:9080/")
    finally:
        server.stop()
    assert response.status_code == 403
    assert records[0].destination_workload == "reviews-v3"
    assert arrived(denied, "productpage-v1")
