"""Helpers for the outbound tier tests: a Mesh from YAML, driven without sockets."""

from __future__ import annotations

import textwrap
from collections.abc import Generator
from typing import Any

import httpcore
import httpx
import yaml

import inmesh
from inmesh._state import MeshState
from inmesh.outbound._endpoint import Exchange
from inmesh.telemetry import RequestRecord

BACKEND = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: backend}
spec:
  hosts: [backend.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: backend}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: backend-1}
spec: {address: 127.0.0.1, ports: {http: 9001}, labels: {app: backend, version: v1}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: backend-2}
spec: {address: 127.0.0.2, ports: {http: 9002}, labels: {app: backend, version: v2}}
"""

#: two subsets of ``backend``; a header match to v2, a named default route to v1
SUBSETS = """
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: backend}
spec:
  host: backend
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: backend}
spec:
  hosts: [backend]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: backend, subset: v2}}]
  - name: to-v1
    route: [{destination: {host: backend, subset: v1}}]
"""


def mesh(extra: str = "", **kwargs: Any) -> tuple[inmesh.Mesh, list[RequestRecord]]:
    """A Mesh for client ``frontend`` with ``backend`` (two endpoints) plus ``extra``, and the
    list its records go to."""
    docs = [d for d in yaml.safe_load_all(BACKEND + textwrap.dedent(extra)) if d is not None]
    m = inmesh.Mesh(service="frontend", config=docs, **kwargs)
    records: list[RequestRecord] = []
    m.add_hook(records.append)
    return m, records


def state(m: inmesh.Mesh) -> MeshState:
    return m._state


def response(
    status: int = 200, headers: list[tuple[bytes, bytes]] | None = None
) -> httpcore.Response:
    return httpcore.Response(status, headers=headers or [], content=b"ok")


def request(url: str = "http://backend/", **kwargs: Any) -> httpx.Request:
    return httpx.Request(kwargs.pop("method", "GET"), url, **kwargs)


Driver = Generator[Any, Any, Any]


def run(driver: Driver, outcomes: list[Any]) -> tuple[Any, list[Any]]:
    """Drive ``driver`` as a shell would, answering each Exchange with the next outcome
    (an httpcore.Response or an exception); return the final answer and the commands seen."""
    commands: list[Any] = []
    result: Any = None
    try:
        while True:
            cmd = driver.send(result)
            commands.append(cmd)
            result = outcomes.pop(0) if isinstance(cmd, Exchange) else None
    except StopIteration as stop:
        return stop.value, commands
