"""Telemetry: the per-request record, the hooks it is delivered to, and Istio's metrics.

- ``_record.py``: the request's attributes (``RequestRecord``), ``RecordHook``
- ``_labels.py``: Istio's standard labels, ``unknown`` rules, canonical service/revision
- ``_metrics.py``: ``istio_requests_total``, ``istio_request_duration_milliseconds``,
  ``istio_request_bytes``, ``istio_response_bytes`` (``MetricsHook``)
- ``_exposition.py``: ``/stats/prometheus``, the admin listener (Envoy's port 15090)
- ``_propagation.py``: W3C / B3 trace headers, the inbound request's context (contextvar)
- ``_tracing.py``: ``Tracing`` settings, the live ``MeshTracer`` (``MeshState.tracing``)
- ``_spans.py``: server span per inbound request, client span per outbound attempt
- ``_otel.py``: the OpenTelemetry provider (OTLP over HTTP), loaded on the first sampled span

prometheus_client is imported when a ``MetricsHook`` is first built, and OpenTelemetry on
the first sampled span, not by ``import inmesh``. Access logs will be a further hook.
"""

from __future__ import annotations

from ._exposition import (
    ADMIN_PORT_NAME,
    METRICS_PATH,
    AdminServer,
    metrics_app,
    start_admin_server,
)
from ._labels import (
    LABEL_NAMES,
    canonical_revision,
    canonical_service,
    labels_of,
    namespace_of_principal,
    request_protocol,
)
from ._metrics import ENVOY_BUCKETS, MetricsHook, default_metrics
from ._propagation import InboundContext, TraceContext, current_inbound
from ._record import RecordHook, RequestRecord
from ._tracing import DEFAULT_SAMPLING, HeaderTag, MeshTracer, Tracing, tracer_for

__all__ = [
    "ADMIN_PORT_NAME",
    "DEFAULT_SAMPLING",
    "ENVOY_BUCKETS",
    "LABEL_NAMES",
    "METRICS_PATH",
    "AdminServer",
    "HeaderTag",
    "InboundContext",
    "MeshTracer",
    "MetricsHook",
    "RecordHook",
    "RequestRecord",
    "TraceContext",
    "Tracing",
    "canonical_revision",
    "canonical_service",
    "current_inbound",
    "default_metrics",
    "labels_of",
    "metrics_app",
    "namespace_of_principal",
    "request_protocol",
    "start_admin_server",
    "tracer_for",
]
