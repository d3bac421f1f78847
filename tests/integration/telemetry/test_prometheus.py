"""A real Prometheus (Debian's ``prometheus`` package) finds a workload through the
registry's HTTP service discovery, scrapes its admin listener and answers the PromQL of
Istio's dashboards."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from inmesh.telemetry import ADMIN_PORT_NAME, MetricsHook, start_admin_server
from tests.integration.registry.conftest import Registry, start_registry
from tests.unit.telemetry.records import record

PROMETHEUS = shutil.which("prometheus")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        PROMETHEUS is None,
        reason="no prometheus binary on PATH (Debian: `apt-get install -y prometheus`; "
        ".ci/run installs it where the package is available)",
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    r = start_registry(tmp_path / "data")
    yield r
    r.stop()


def start_prometheus(tmp_path: Path, registry: Registry) -> tuple[subprocess.Popen[bytes], str]:
    config = tmp_path / "prometheus.yml"
    config.write_text(
        f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: inmesh
    http_sd_configs:
      - url: {registry.url}/v1/sd/prometheus
        refresh_interval: 1s
        # type spelled out: Prometheus 2.42's http_sd sends the credentials without it
        authorization: {{type: Bearer, credentials: "{registry.admin}"}}
"""
    )
    port = free_port()
    assert PROMETHEUS is not None
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("wb"),
    )
    return process, f"http://127.0.0.1:{port}"


def query(base: str, promql: str) -> list[dict[str, Any]]:
    try:
        response = httpx.get(f"{base}/api/v1/query", params={"query": promql}, trust_env=False)
    except httpx.TransportError:
        return []
    if response.status_code != 200:
        return []
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


def test_prometheus_scrapes_the_mesh_through_service_discovery(
    tmp_path: Path, registry: Registry
) -> None:
    hook = MetricsHook()
    admin = start_admin_server("127.0.0.1", 0, hook=hook)
    stop = threading.Event()

    def traffic() -> None:  # a steady trickle, some of it failing, while Prometheus scrapes
        while not stop.wait(0.05):
            hook(record())
            hook(record(status=503, response_flags="UF"))

    with registry.http() as c:
        registered = c.post(
            "/v1/workloads",
            json={
                "name": "productpage-v1",
                "namespace": "default",
                "address": "127.0.0.1",
                "ports": {"http": 9080, ADMIN_PORT_NAME: admin.port},
                "labels": {"app": "productpage", "version": "v1"},
                "ttl": 300,
            },
        )
    assert registered.status_code == 201, registered.text
    thread = threading.Thread(target=traffic, daemon=True)
    thread.start()
    process, base = start_prometheus(tmp_path, registry)
    try:
        promql = "sum(rate(istio_requests_total[1m])) by (response_code)"
        rates: dict[str, float] = {}
        deadline = time.monotonic() + 60  # a bound on waiting for scrapes, not an assertion
        while time.monotonic() < deadline and not (
            rates.keys() == {"200", "503"} and all(v > 0 for v in rates.values())
        ):
            time.sleep(0.5)
            rates = {
                r["metric"]["response_code"]: float(r["value"][1]) for r in query(base, promql)
            }
        assert rates.keys() == {"200", "503"}, (tmp_path / "prometheus.log").read_text()[-2000:]
        assert all(v > 0 for v in rates.values())
        (series,) = query(base, 'istio_requests_total{response_code="503"}')
        labels = series["metric"]
        # target labels from the registry's discovery, series labels from the hook
        assert (labels["job"], labels["namespace"], labels["workload"]) == (
            "inmesh",
            "default",
            "productpage-v1",
        )
        assert labels["instance"] == f"127.0.0.1:{admin.port}"
        assert labels["response_flags"] == "UF"
        assert labels["destination_service_name"] == "reviews"
    finally:
        stop.set()
        thread.join()
        process.terminate()
        process.wait(30)
        admin.close()
