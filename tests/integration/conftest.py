"""Shared fixtures: real echo services under uvicorn on 127.0.0.1 and their mesh YAML."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.servers import RunningServer, echo_app, start_server


@dataclass
class Workload:
    service: str
    version: str
    server: RunningServer

    @property
    def port(self) -> int:
        return self.server.port


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def bookinfo() -> Iterator[list[Workload]]:
    """reviews v1/v2/v3 and ratings v1, each a real uvicorn server."""
    specs = [("reviews", "v1"), ("reviews", "v2"), ("reviews", "v3"), ("ratings", "v1")]
    running = [Workload(s, v, start_server(echo_app(s, v))) for s, v in specs]
    yield running
    for w in running:
        w.server.stop()


def workloads_yaml(workloads: list[Workload], *, port: int = 9080) -> str:
    """A ServiceEntry per service (Kubernetes-style FQDN) and a WorkloadEntry per server."""
    docs = []
    for svc in sorted({w.service for w in workloads}):
        docs.append(f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: {svc}
spec:
  hosts: [{svc}.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - number: {port}
    name: http
    protocol: HTTP
  workloadSelector:
    labels:
      app: {svc}
""")
    for i, w in enumerate(workloads):
        docs.append(f"""
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: {w.service}-{w.version}-{i}
spec:
  address: 127.0.0.1
  ports:
    http: {w.port}
  labels:
    app: {w.service}
    version: {w.version}
""")
    return "---".join(docs)


SUBSETS = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v2
    labels: {version: v2}
  - name: v3
    labels: {version: v3}
"""
