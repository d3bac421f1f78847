"""The proof with real parts: a registry, Bookinfo as real ``inmesh serve`` processes
(productpage -> reviews v1/v2/v3 -> ratings, mTLS from the registry's CA except to ratings,
a fault abort on some ratings calls), traffic from a mesh client, and one real Prometheus
that finds every workload through the registry's HTTP service discovery. The PromQL of
Istio's Grafana dashboards and Kiali's graph query answer with the Bookinfo graph."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import inmesh
from tests.integration.registry.conftest import Registry, start_registry
from tests.integration.telemetry.prometheus import (
    NO_PROMETHEUS,
    PROMETHEUS,
    query,
    start_prometheus,
)

pytestmark = [pytest.mark.integration, pytest.mark.skipif(PROMETHEUS is None, reason=NO_PROMETHEUS)]

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "bookinfo"
WORKLOADS = [
    ("productpage", "v1", "examples.bookinfo.productpage:app"),
    ("reviews", "v1", "examples.bookinfo.reviews:app"),
    ("reviews", "v2", "examples.bookinfo.reviews:app"),
    ("reviews", "v3", "examples.bookinfo.reviews:app"),
    ("ratings", "v1", "examples.bookinfo.ratings:app"),
]
# ratings without mTLS (the rest: Istio's auto mTLS with the registry's certificates), and
# a fault abort on a quarter of the calls to it: errors only the source side reports
RATINGS = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings}
spec:
  host: ratings
  trafficPolicy: {tls: {mode: DISABLE}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http:
  - fault: {abort: {httpStatus: 503, percentage: {value: 25}}}
    route: [{destination: {host: ratings}}]
"""
# Kiali's graph query (kiali/kiali graph/telemetry/istio/istio.go, buildNamespaceTrafficMap:
# "Incoming: query destination telemetry" and "Outgoing: query source telemetry")
KIALI_GROUP_BY = (
    "source_cluster,source_workload_namespace,source_workload,source_canonical_service,"
    "source_canonical_revision,destination_cluster,destination_service_namespace,"
    "destination_service,destination_service_name,destination_workload_namespace,"
    "destination_workload,destination_canonical_service,destination_canonical_revision,"
    "request_protocol,response_code,grpc_response_status,response_flags"
)
KIALI_INCOMING = (
    'sum(rate(istio_requests_total{reporter="destination",'
    'destination_workload_namespace="default"} [60s])) by (' + KIALI_GROUP_BY + ") > 0"
)
KIALI_OUTGOING = (
    'sum(rate(istio_requests_total{reporter="source",'
    'source_workload_namespace="default"} [60s])) by (' + KIALI_GROUP_BY + ") > 0"
)
BOOKINFO_EDGES = {
    ("loadgen-v1", "productpage-v1"),
    ("productpage-v1", "reviews-v1"),
    ("productpage-v1", "reviews-v2"),
    ("productpage-v1", "reviews-v3"),
    ("reviews-v2", "ratings-v1"),
    ("reviews-v3", "ratings-v1"),
}


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    r = start_registry(tmp_path / "data")
    for body in ((EXAMPLES / "services.yaml").read_text(), RATINGS):
        assert r.apply(body).status_code == 200
    yield r
    r.stop()


@pytest.fixture
def bookinfo(registry: Registry, tmp_path: Path) -> Iterator[list[str]]:
    """Every workload as an ``inmesh serve`` process (started together), their metrics URLs."""
    procs: list[subprocess.Popen[str]] = []
    try:
        for service, version, app in WORKLOADS:
            env = {
                **os.environ,
                "INMESH_TOKEN": registry.admin,
                "PYTHONPATH": str(ROOT),
                "VERSION": version,
            }
            procs.append(
                subprocess.Popen(
                    [
                        *(sys.executable, "-m", "inmesh", "serve", app, "--service", service),
                        *("--version", version, "--registry", registry.url, "--drain", "0"),
                        *("--admin-port", "0"),
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=(tmp_path / f"{service}-{version}.log").open("w"),
                    text=True,
                )
            )
        urls = []
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert "metrics at " in line, line
            urls.append(line.split("metrics at ")[1].strip())
            threading.Thread(target=proc.stdout.read, daemon=True).start()
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)


class Traffic:
    """Sequential requests to productpage from a mesh client (``loadgen v1``)."""

    def __init__(self, registry: Registry) -> None:
        self.mesh = inmesh.Mesh(
            service="loadgen",
            labels={"app": "loadgen", "version": "v1"},
            registry=registry.url,
            token=registry.admin,
            metrics=False,
        )
        self.mesh.start()
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with self.mesh.sync_client(timeout=10) as client:
            while not self._stop.is_set():
                try:
                    self.statuses.append(client.get("http://productpage:9080/").status_code)
                except Exception:  # a workload still registering: try again
                    self.statuses.append(0)
                    time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        self.mesh.close()


def edges(rows: list[dict[str, Any]], code: str = "200") -> set[tuple[str, str]]:
    return {
        (r["metric"]["source_workload"], r["metric"]["destination_workload"])
        for r in rows
        if r["metric"]["response_code"] == code
    }


def test_istio_dashboards_and_kiali_read_the_bookinfo_mesh(
    registry: Registry, bookinfo: list[str], tmp_path: Path
) -> None:
    traffic = Traffic(registry)
    prometheus, base = start_prometheus(tmp_path, registry)
    try:
        incoming: list[dict[str, Any]] = []
        outgoing: list[dict[str, Any]] = []
        deadline = time.monotonic() + 90  # a bound on waiting for scrapes, not an assertion
        while time.monotonic() < deadline:
            incoming, outgoing = query(base, KIALI_INCOMING), query(base, KIALI_OUTGOING)
            if edges(incoming) >= BOOKINFO_EDGES and edges(outgoing, "503"):
                break
            time.sleep(0.5)
        log = (tmp_path / "prometheus.log").read_text()[-2000:]
        # Kiali's incoming traffic: exactly Bookinfo's edges, known workloads on both ends
        # (the destination learnt its callers through metadata exchange)
        assert edges(incoming) == BOOKINFO_EDGES, log
        for row in incoming:
            m = row["metric"]
            assert m["destination_service_namespace"] == "default"
            assert m["destination_canonical_service"] == m["destination_workload"].split("-")[0]
            assert m["source_canonical_service"] == m["source_workload"].split("-")[0]
            assert (
                m["destination_service"]
                == f"{m['destination_service_name']}.default.svc.cluster.local"
            )
            assert m["request_protocol"] == "http"
        # the outgoing side learnt the destination workloads from the answers; the aborted
        # calls never reached ratings: an edge to the service with an unknown workload
        assert edges(outgoing) == BOOKINFO_EDGES - {("loadgen-v1", "productpage-v1")}
        aborted = [r["metric"] for r in outgoing if r["metric"]["response_code"] == "503"]
        assert {(m["source_workload"], m["destination_workload"]) for m in aborted} <= {
            ("reviews-v2", "unknown"),
            ("reviews-v3", "unknown"),
        }
        assert {m["response_flags"] for m in aborted} == {"FI"}
        assert {m["destination_service_name"] for m in aborted} == {"ratings"}

        # Istio's dashboards: request rate by destination service and response code
        rates = {
            (r["metric"]["destination_service"], r["metric"]["response_code"])
            for r in query(
                base,
                'sum(rate(istio_requests_total{reporter="source"}[1m]))'
                " by (destination_service, response_code)",
            )
        }
        assert {
            ("reviews.default.svc.cluster.local", "200"),
            ("ratings.default.svc.cluster.local", "200"),
            ("ratings.default.svc.cluster.local", "503"),
        } <= rates
        # P50/P90/P99 from the buckets, as the dashboards compute them
        quantiles = []
        for q in ("0.50", "0.90", "0.99"):
            (row,) = query(
                base,
                f"histogram_quantile({q}, sum(rate(istio_request_duration_milliseconds_bucket"
                '{reporter="destination"}[1m])) by (le))',
            )
            quantiles.append(float(row["value"][1]))
        assert all(math.isfinite(v) and v > 0 for v in quantiles), quantiles
        assert quantiles == sorted(quantiles)
        # mTLS or not, by destination: auto mTLS everywhere but ratings (tls DISABLE)
        security = {
            (r["metric"]["destination_service_name"], r["metric"]["connection_security_policy"])
            for r in query(
                base,
                'sum(rate(istio_requests_total{reporter="destination"}[1m]))'
                " by (destination_service_name, connection_security_policy)",
            )
        }
        assert security == {
            ("productpage", "mutual_tls"),
            ("reviews", "mutual_tls"),
            ("ratings", "none"),
        }
        # principals from certificates, with the spiffe:// prefix the dashboards filter on
        (row,) = query(
            base,
            'sum(istio_requests_total{reporter="destination",destination_service_name="reviews"})'
            " by (source_principal, destination_principal)",
        )
        assert row["metric"] == {
            "source_principal": "spiffe://cluster.local/ns/default/sa/productpage",
            "destination_principal": "spiffe://cluster.local/ns/default/sa/reviews",
        }
        # the source side too: the server's identity from the certificate its mTLS
        # handshake verified (plaintext ratings: unknown)
        rows = query(
            base,
            'sum(istio_requests_total{reporter="source"}) by (destination_service_name, '
            "destination_principal)",
        )
        principals = {
            (r["metric"]["destination_service_name"], r["metric"]["destination_principal"])
            for r in rows
        }
        assert ("reviews", "spiffe://cluster.local/ns/default/sa/reviews") in principals
        assert ("ratings", "unknown") in principals
        # target labels from the registry's discovery, as Istio's kubernetes-pods job sets them
        (row,) = query(
            base,
            'count(istio_requests_total{reporter="destination",app="ratings"})'
            " by (namespace, app, version, workload)",
        )
        assert row["metric"] == {
            "namespace": "default",
            "app": "ratings",
            "version": "v1",
            "workload": "ratings-v1",
        }
    finally:
        traffic.stop()
        prometheus.terminate()
        prometheus.wait(30)
    assert 200 in traffic.statuses
