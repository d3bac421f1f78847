"""The registry's Prometheus service discovery and its own metrics, against a real
registry, and a workload's admin listener scraped over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from inmesh.telemetry import ADMIN_PORT_NAME, MetricsHook, start_admin_server
from tests.integration.registry.conftest import Registry, start_registry
from tests.unit.telemetry.records import record

pytestmark = pytest.mark.integration


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    r = start_registry(tmp_path / "data")
    yield r
    r.stop()


def register(registry: Registry, name: str, labels: dict[str, str], **ports: int) -> None:
    with registry.http() as c:
        response = c.post(
            "/v1/workloads",
            json={
                "name": name,
                "namespace": "default",
                "address": "127.0.0.1",
                "ports": {"http": 9080, **ports},
                "labels": labels,
            },
        )
    assert response.status_code == 201, response.text


def scrape(url: str) -> dict[str, Any]:
    text = httpx.get(url, trust_env=False).text
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_sd_lists_workloads_that_advertise_an_admin_port(registry: Registry) -> None:
    register(registry, "reviews-1", {"app": "reviews", "version": "v2"}, **{ADMIN_PORT_NAME: 15090})
    register(registry, "ratings-v1", {"app": "ratings", "version": "v1"})  # no admin port
    with registry.http() as c:
        response = c.get("/v1/sd/prometheus")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == [
        {
            "targets": ["127.0.0.1:15090"],
            "labels": {
                "__metrics_path__": "/stats/prometheus",
                "namespace": "default",
                "pod": "reviews-1",
                "workload": "reviews-v2",
                "app": "reviews",
                "version": "v2",
                "canonical_service": "reviews",
                "canonical_revision": "v2",
                "__meta_inmesh_label_app": "reviews",
                "__meta_inmesh_label_version": "v2",
            },
        }
    ]


def test_sd_needs_a_token_and_keeps_join_tokens_to_their_namespace(registry: Registry) -> None:
    with registry.http(token=None) as c:
        assert c.get("/v1/sd/prometheus").status_code == 401
    token = registry.join_token("shop")
    with registry.http(token=token) as c:
        denied = c.get("/v1/sd/prometheus", params={"namespace": "default"})
        assert denied.status_code == 403
        assert "cannot discover workloads of namespace 'default'" in denied.json()["messages"][0]
        assert c.get("/v1/sd/prometheus").json() == []


def test_registry_metrics_count_services_virtual_services_pushes(registry: Registry) -> None:
    response = registry.apply(
        """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  http: [{route: [{destination: {host: reviews.default.svc.cluster.local}}]}]
"""
    )
    assert response.status_code == 200, response.text
    with registry.http() as c:
        first = c.get("/v1/watch").json()  # a new watcher: the current state at once
        changed = c.get("/v1/watch", params={"revision": 0, "store": first["store"]})
        assert changed.status_code == 200
    got = scrape(registry.url + "/metrics")  # no credentials needed
    assert got["pilot_services"].samples[0].value == 1
    assert got["pilot_virt_services"].samples[0].value == 1
    (pushes,) = got["pilot_xds_pushes"].samples
    assert (pushes.labels, pushes.value) == ({"type": "snapshot"}, 1)
    convergence = got["pilot_proxy_convergence_time"]
    les = [s.labels["le"] for s in convergence.samples if s.name.endswith("_bucket")]
    assert les == ["0.1", "0.5", "1.0", "3.0", "5.0", "10.0", "20.0", "30.0", "+Inf"]
    count = [s.value for s in convergence.samples if s.name.endswith("_count")]
    assert count == [1]


def test_admin_listener_serves_the_hooks_metrics() -> None:
    hook = MetricsHook()
    hook(record(status=503, response_flags="UH"))
    admin = start_admin_server("127.0.0.1", 0, hook=hook)
    try:
        assert admin.port > 0
        assert admin.url == f"http://127.0.0.1:{admin.port}/stats/prometheus"
        got = scrape(admin.url)
        (sample,) = got["istio_requests"].samples
        assert (sample.labels["response_code"], sample.labels["response_flags"]) == ("503", "UH")
        hook(record())
        assert len(scrape(admin.url)["istio_requests"].samples) == 2
    finally:
        admin.close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(admin.url, trust_env=False)
