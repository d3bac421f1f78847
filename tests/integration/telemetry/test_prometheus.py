"""A real Prometheus (Debian's ``prometheus`` package) finds a workload through the
registry's HTTP service discovery, scrapes its admin listener and answers the PromQL of
Istio's dashboards."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from inmesh.telemetry import ADMIN_PORT_NAME, MetricsHook, start_admin_server
from tests.integration.registry.conftest import Registry, start_registry
from tests.integration.telemetry.prometheus import (
    NO_PROMETHEUS,
    PROMETHEUS,
    query,
    start_prometheus,
)
from tests.unit.telemetry.records import record

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        PROMETHEUS is None,
        reason=NO_PROMETHEUS,
    ),
]


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    r = start_registry(tmp_path / "data")
    yield r
    r.stop()


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
