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
- ``_access_log.py``: Envoy's access log in Istio's TEXT and JSON formats
  (``AccessLogHook``, logger ``inmesh.access``)
- ``_policy.py``: the Telemetry API (``telemetry.istio.io`` Telemetry) resolved for one
  workload (``TelemetryPolicy``, ``resolve_telemetry``; ``tracing_settings`` for the
  tracer); ``_cel.py`` its CEL subset; ``_overrides.py`` the metrics it changes;
  ``_problems.py`` what the runtime refuses in a Telemetry resource (by name)

prometheus_client is imported when a ``MetricsHook``'s registry is first read (to expose
the metrics), and OpenTelemetry on the first sampled span, not by ``import inmesh``.
"""

from __future__ import annotations

from ._access_log import ACCESS_LOGGER, AccessLogHook, format_json, format_text
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
from ._policy import TelemetryPolicy, resolve_telemetry, tracing_settings
from ._propagation import InboundContext, TraceContext, current_inbound
from ._record import RecordHook, RequestRecord
from ._tracing import DEFAULT_SAMPLING, HeaderTag, MeshTracer, Tracing, tracer_for

__all__ = [
    "ACCESS_LOGGER",
    "ADMIN_PORT_NAME",
    "DEFAULT_SAMPLING",
    "ENVOY_BUCKETS",
    "LABEL_NAMES",
    "METRICS_PATH",
    "AccessLogHook",
    "AdminServer",
    "HeaderTag",
    "InboundContext",
    "MeshTracer",
    "MetricsHook",
    "RecordHook",
    "RequestRecord",
    "TelemetryPolicy",
    "TraceContext",
    "Tracing",
    "canonical_revision",
    "canonical_service",
    "current_inbound",
    "default_metrics",
    "format_json",
    "format_text",
    "labels_of",
    "metrics_app",
    "namespace_of_principal",
    "request_protocol",
    "resolve_telemetry",
    "start_admin_server",
    "tracer_for",
    "tracing_settings",
]
