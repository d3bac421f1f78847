"""Helpers for the routing unit tests: Istio YAML in, a compiled Snapshot or a RequestView out."""

from __future__ import annotations

import textwrap
from typing import Any

import httpx
import yaml

from inmesh.config import Resource, parse_documents
from inmesh.outbound import request_view
from inmesh.routing import ClientIdentity, RequestView, Snapshot


def resources(text: str) -> list[Resource]:
    """Validated resources from multi-document YAML (the loader's own rules apply)."""
    docs = [d for d in yaml.safe_load_all(textwrap.dedent(text)) if d is not None]
    return parse_documents(docs)


def snapshot(
    text: str,
    *,
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    locality: str = "",
    **kwargs: Any,
) -> Snapshot:
    """A Snapshot of ``text`` for a client ``productpage`` in ``namespace``."""
    client = ClientIdentity(
        service="productpage", namespace=namespace, labels=labels or {}, locality=locality
    )
    return Snapshot(resources(text), client, **kwargs)


def view(url: str, *, method: str = "GET", headers: dict[str, str] | None = None) -> RequestView:
    """What routing sees of an httpx request to ``url``."""
    return request_view(httpx.Request(method, url, headers=headers))


def service_entry(
    host: str,
    *,
    name: str | None = None,
    namespace: str = "default",
    ports: str = "[{number: 9080, name: http, protocol: HTTP}]",
    extra: str = "",
) -> str:
    """A MESH_INTERNAL STATIC ServiceEntry for ``host`` selecting WorkloadEntries app=<name>."""
    name = name or host.split(".")[0]
    return f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  hosts: [{host}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: {ports}
  workloadSelector: {{labels: {{app: {name}}}}}
{extra}"""


def workload(
    app: str, address: str, *, namespace: str = "default", version: str = "v1", extra: str = ""
) -> str:
    """A WorkloadEntry ``app``/``version`` at ``address``."""
    return f"""
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: {app}-{version}-{address.replace(".", "-")}, namespace: {namespace}}}
spec:
  address: {address}
  labels: {{app: {app}, version: {version}}}
{extra}"""


def docs(*parts: str) -> str:
    """Join YAML documents."""
    return "\n---\n".join(textwrap.dedent(p).strip("\n") for p in parts)
