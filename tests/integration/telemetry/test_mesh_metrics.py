"""A Mesh with a MetricsHook: real requests through the mesh client become Istio's series,
scraped from a real admin listener."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import inmesh
from inmesh.telemetry import MetricsHook, start_admin_server
from tests.integration.conftest import Workload, workloads_yaml

pytestmark = pytest.mark.integration


def test_outbound_requests_become_source_series(bookinfo: list[Workload], tmp_path: Path) -> None:
    cfg = tmp_path / "mesh.yaml"
    cfg.write_text(workloads_yaml(bookinfo))
    hook = MetricsHook()
    admin = start_admin_server("127.0.0.1", 0, hook=hook)
    try:
        mesh = inmesh.Mesh(service="productpage", labels={"version": "v1"}, config=cfg)
        mesh.add_hook(hook)
        with mesh, mesh.sync_client() as client:
            for i in range(3):
                assert client.get(f"http://reviews:9080/reviews/{i}").status_code == 200
            # not a mesh host (ALLOW_ANY: passthrough), and nothing listens there
            failed = client.get("http://127.0.0.1:1/")
        text = httpx.get(admin.url, trust_env=False).text
    finally:
        admin.close()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    series = {
        (s.labels["destination_service_name"], s.labels["response_code"]): s
        for s in families["istio_requests"].samples
    }
    passthrough = series[("PassthroughCluster", str(failed.status_code))]
    assert passthrough.labels["response_flags"] == failed.headers["x-inmesh-response-flags"]
    # one series per destination version (the endpoints' labels), three requests in all
    reviews = [
        s
        for s in families["istio_requests"].samples
        if s.labels["destination_service_name"] == "reviews" and s.labels["response_code"] == "200"
    ]
    assert sum(s.value for s in reviews) == 3
    assert {s.labels["destination_version"] for s in reviews} <= {"v1", "v2", "v3"}
    ok = reviews[0]
    assert ok.labels["reporter"] == "source"
    # Istio names the workload after its Deployment: productpage-v1 in Bookinfo
    assert ok.labels["source_workload"] == "productpage-v1"
    assert ok.labels["source_version"] == "v1"
    assert ok.labels["destination_service"].startswith("reviews")
    assert ok.labels["connection_security_policy"] == "unknown"
    counts = [
        s.value
        for s in families["istio_request_duration_milliseconds"].samples
        if s.name.endswith("_count") and s.labels["response_code"] == "200"
    ]
    assert sum(counts) == 3
    assert not any("/reviews/" in v for s in series.values() for v in s.labels.values())


def test_a_mesh_records_into_the_process_metrics_by_default(
    bookinfo: list[Workload], tmp_path: Path
) -> None:
    from inmesh.telemetry import default_metrics

    cfg = tmp_path / "mesh.yaml"
    cfg.write_text(workloads_yaml(bookinfo))
    mesh = inmesh.Mesh(service="details", labels={"version": "v9"}, config=cfg)
    assert default_metrics() in mesh.hooks
    assert inmesh.Mesh(service="details", metrics=False).hooks == ()
    with mesh, mesh.sync_client() as client:
        assert client.get("http://ratings:9080/ratings/0").status_code == 200
    samples = [
        s
        for f in text_string_to_metric_families(default_metrics().exposition().decode())
        if f.name == "istio_requests"
        for s in f.samples
        if s.labels["source_workload"] == "details-v9"
    ]
    assert [(s.labels["destination_service_name"], s.value) for s in samples] == [("ratings", 1)]
