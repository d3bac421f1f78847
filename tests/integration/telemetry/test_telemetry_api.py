"""Telemetry resources on a real mesh: a uvicorn app behind MeshMiddleware (the destination
side) called through a Mesh client (the source side); access-log lines on both sides, and
metric overrides seen on a real admin listener's ``/stats/prometheus``."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import inmesh
from inmesh.telemetry import MetricsHook, start_admin_server
from tests.servers import RunningServer, echo_app, start_server

pytestmark = pytest.mark.integration

ENDPOINTS = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: reviews, namespace: default}}
spec:
  hosts: [reviews.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 9080, name: http, protocol: HTTP}}]
  workloadSelector: {{labels: {{app: reviews}}}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: reviews-1, namespace: default}}
spec:
  address: 127.0.0.1
  ports: {{http: {port}}}
  labels: {{app: reviews, version: v1}}
"""
ACCESS_LOG = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  accessLogging:
  - providers: [{name: envoy}]
"""
METRICS = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: metrics, namespace: default}
spec:
  metrics:
  - providers: [{name: prometheus}]
    overrides:
    - match: {metric: REQUEST_SIZE}
      disabled: true
    - match: {metric: REQUEST_COUNT}
      tagOverrides:
        response_code: {operation: REMOVE}
        request_host: {value: request.host}
"""
# Istio's TEXT line: [start] "METHOD PATH PROTOCOL" code flags details - "reason" bytes...
TEXT_LINE = re.compile(
    r'^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] "GET /reviews/1\?x=1 HTTP/1\.1" 200 - '
    r'via_upstream - "-" 0 \d+ \d+ - "-" "python-httpx/[^"]+" "([0-9a-f-]{36}|-)" '
    r'"reviews:9080" "127\.0\.0\.1:\d+" (\S+) (\S+) (\S+) (\S+) - default$'
)


@pytest.fixture()
def reviews(tmp_path: Path) -> Iterator[tuple[inmesh.Mesh, RunningServer]]:
    """reviews behind MeshMiddleware, its Mesh configured by ``tmp_path/server.yaml``."""
    mesh = inmesh.Mesh(service="reviews", labels={"app": "reviews", "version": "v1"})
    server = start_server(inmesh.MeshMiddleware(echo_app("reviews", "v1"), mesh=mesh))
    yield mesh, server
    server.stop()


def access_log_hooks(mesh: inmesh.Mesh) -> list[Any]:
    from inmesh.telemetry import AccessLogHook

    return [h for h in mesh.hooks if isinstance(h, AccessLogHook)]


def _client_mesh(port: int, *extra: str) -> inmesh.Mesh:
    docs = [ENDPOINTS.format(port=port), *extra]
    return inmesh.Mesh(
        service="productpage",
        labels={"app": "productpage", "version": "v1"},
        config=[d for text in docs for d in _yaml(text)],
    )


def _destination_total(text: str) -> float:
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        if f.name == "istio_requests"
        for s in f.samples
        if s.labels.get("reporter") == "destination"
    )


def _yaml(text: str) -> list[dict[str, object]]:
    import yaml

    return [d for d in yaml.safe_load_all(text) if d]


def test_telemetry_turns_on_access_logs_on_both_sides(
    reviews: tuple[inmesh.Mesh, RunningServer], caplog: pytest.LogCaptureFixture
) -> None:
    server_mesh, server = reviews
    server_mesh.apply(_yaml(ACCESS_LOG))
    client_mesh = _client_mesh(server.port, ACCESS_LOG)
    caplog.set_level(logging.INFO, logger="inmesh.access")
    with client_mesh.sync_client() as client:
        assert client.get("http://reviews:9080/reviews/1?x=1").status_code == 200
    # the server logs after its app returns, which may be after the client has its answer
    for _ in range(200):
        lines = [r.getMessage() for r in caplog.records if r.name == "inmesh.access"]
        if len(lines) >= 2:
            break
        time.sleep(0.02)
    assert len(lines) == 2  # one per side
    # either side may finish first: tell them apart by their cluster
    [server_line] = [line for line in lines if " inbound|" in line]
    [client_line] = [line for line in lines if " outbound|" in line]
    inbound = TEXT_LINE.match(server_line)
    outbound = TEXT_LINE.match(client_line)
    assert inbound is not None, server_line
    assert outbound is not None, client_line
    # MeshMiddleware gives the request an x-request-id (Envoy's inbound does when none came)
    assert inbound.group(1) != "-"
    _, cluster, upstream_local, downstream_local, downstream_remote = outbound.groups()
    assert cluster == "outbound|9080||reviews.default.svc.cluster.local"
    assert re.fullmatch(r"127\.0\.0\.1:\d+", upstream_local)
    assert downstream_local == "reviews:9080"  # the address the application asked for
    assert downstream_remote == "-"  # in-process: no downstream connection
    _, cluster, upstream_local, downstream_local, downstream_remote = inbound.groups()
    assert cluster == f"inbound|{server.port}||"
    assert upstream_local == "-"
    assert downstream_local == f"127.0.0.1:{server.port}"
    # the client's connection, seen from both ends
    assert downstream_remote == outbound.group(3)


def test_access_logs_off_without_configuration_and_json_by_mesh_setting(
    reviews: tuple[inmesh.Mesh, RunningServer], caplog: pytest.LogCaptureFixture
) -> None:
    _, server = reviews
    caplog.set_level(logging.INFO, logger="inmesh.access")
    quiet = _client_mesh(server.port)
    assert access_log_hooks(quiet) == []  # nothing logs: no access-log hook
    with quiet.sync_client() as client:
        client.get("http://reviews:9080/reviews/1")
    assert not [r for r in caplog.records if r.name == "inmesh.access"]

    import json

    loud = inmesh.Mesh(service="productpage", config=list(quiet.resources), access_log="json")
    with loud.sync_client() as client:
        client.get("http://reviews:9080/reviews/2", headers={"user-agent": "curl/8"})
    [line] = [r.getMessage() for r in caplog.records if r.name == "inmesh.access"]
    entry = json.loads(line)
    assert entry["path"] == "/reviews/2"
    assert entry["response_code"] == 200
    assert entry["user_agent"] == "curl/8"
    assert entry["upstream_cluster"] == "outbound|9080||reviews.default.svc.cluster.local"
    assert entry["connection_termination_details"] is None


def test_a_disabled_metric_disappears_and_a_tag_override_changes_labels(
    reviews: tuple[inmesh.Mesh, RunningServer],
) -> None:
    server_mesh, server = reviews
    hook = MetricsHook()
    admin = start_admin_server("127.0.0.1", 0, hook=hook)
    try:
        client_mesh = _client_mesh(server.port, METRICS)
        client_mesh.add_hook(hook)
        server_mesh.add_hook(hook)  # reviews: no Telemetry in its view, standard metrics
        with client_mesh.sync_client() as client:
            for i in range(3):
                assert client.get(f"http://reviews:9080/reviews/{i}").status_code == 200
        # the server records a request after its app returns, which may be after the
        # client has read the response: wait for the third destination-side record
        for _ in range(200):
            text = httpx.get(admin.url, trust_env=False).text
            if text.count('reporter="destination"') and _destination_total(text) == 3:
                break
            time.sleep(0.02)
    finally:
        admin.close()
        server_mesh.remove_hook(hook)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    requests = families["istio_requests"].samples
    source = [s for s in requests if s.labels["reporter"] == "source"]
    destination = [s for s in requests if s.labels["reporter"] == "destination"]
    assert sum(s.value for s in source) == 3
    assert sum(s.value for s in destination) == 3
    # REQUEST_COUNT on the source side: response_code removed, request_host added
    assert all("response_code" not in s.labels for s in source)
    assert {s.labels["request_host"] for s in source} == {"reviews:9080"}
    assert all(s.labels["response_code"] == "200" for s in destination)
    # REQUEST_SIZE disabled on the source side only: istio_request_bytes from reviews alone
    sizes = {s.labels["reporter"] for s in families["istio_request_bytes"].samples}
    assert sizes == {"destination"}
    # the other histograms keep their standard labels
    durations = [
        s
        for s in families["istio_request_duration_milliseconds"].samples
        if s.name.endswith("_count") and s.labels["reporter"] == "source"
    ]
    assert sum(s.value for s in durations) == 3
    assert all(s.labels["response_code"] == "200" for s in durations)
