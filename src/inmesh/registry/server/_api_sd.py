"""``GET /v1/sd/prometheus``: Prometheus HTTP service discovery over live registrations.

The answer is Prometheus's ``http_sd_configs`` format: a list of target groups, one per
workload that advertised an admin listener, i.e. registered a port named
``http-envoy-prom`` (the name of the Istio sidecar's Prometheus port 15090). Each group
carries ``__metrics_path__`` (``/stats/prometheus``), so a scrape job needs only the URL
and a token, and the target labels Istio's ``kubernetes-pods`` scrape job gives a pod's
series (``namespace`` from ``__meta_kubernetes_namespace``, ``pod`` from
``__meta_kubernetes_pod_name``, ``app``, ``version``... from the ``labelmap`` of
``__meta_kubernetes_pod_label_(.+)``) already in place: ``namespace``, ``pod`` (the
registration's name: one instance, as a pod is), ``app``, ``version``, plus ``workload``
(the Deployment-like name the workload reports as ``source_workload``: ``app-version``),
``canonical_service``, ``canonical_revision``, and every workload label as
``__meta_inmesh_label_<name>`` for a ``labelmap`` of one's own. A join token sees its
namespace only, as with ``GET /v1/workloads``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ...telemetry._exposition import ADMIN_PORT_NAME, METRICS_PATH
from ...telemetry._labels import canonical_revision, canonical_service
from ._context import ctx_of
from ._http import json_response

__all__ = ["prometheus_sd", "target_group"]

_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def _workload(labels: Mapping[str, str], name: str) -> str:
    """The name a workload gives itself in its metrics (``Mesh``'s: ``<app>-<version>``,
    Istio's Deployment name for Bookinfo's ``reviews-v2``), the registration's without an
    ``app`` label."""
    app = labels.get("app")
    if not app:
        return name
    version = labels.get("version")
    return f"{app}-{version}" if version else app


def target_group(namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The target group of one registration (its WorkloadEntry ``body``), or None when it
    advertises no admin listener."""
    spec = body.get("spec") or {}
    port = (spec.get("ports") or {}).get(ADMIN_PORT_NAME)
    address = spec.get("address")
    if not isinstance(port, int) or not isinstance(address, str) or not address:
        return None
    host = f"[{address}]" if ":" in address else address
    labels: Mapping[str, str] = (body.get("metadata") or {}).get("labels") or {}
    out = {
        "__metrics_path__": METRICS_PATH,
        "namespace": namespace,
        "pod": name,
        "workload": _workload(labels, name),
        "app": labels.get("app", ""),
        "version": labels.get("version", ""),
        "canonical_service": canonical_service(labels, name),
        "canonical_revision": canonical_revision(labels),
    }
    for key, value in labels.items():
        out[f"__meta_inmesh_label_{_INVALID.sub('_', key)}"] = value
    return {"targets": [f"{host}:{port}"], "labels": {k: v for k, v in out.items() if v}}


async def prometheus_sd(request: Request) -> Response:
    ctx = ctx_of(request)
    principal = await ctx.principal(request)
    namespace = principal.namespace_scope(
        request.query_params.get("namespace") or None, "discover workloads"
    )
    groups = []
    for w in await ctx.store.workloads(namespace):
        group = target_group(w.namespace, w.name, w.body)
        if group is not None:
            groups.append(group)
    return json_response(groups)
