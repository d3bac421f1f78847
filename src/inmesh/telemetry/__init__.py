"""Telemetry: the per-request record, the hooks it is delivered to, and Istio's metrics.

- ``_record.py``: the request's attributes (``RequestRecord``), ``RecordHook``
- ``_labels.py``: Istio's standard labels, ``unknown`` rules, canonical service/revision
- ``_metrics.py``: ``istio_requests_total``, ``istio_request_duration_milliseconds``,
  ``istio_request_bytes``, ``istio_response_bytes`` (``MetricsHook``)
- ``_exposition.py``: ``/stats/prometheus``, the admin listener (Envoy's port 15090)

prometheus_client is imported when a ``MetricsHook`` is first built, not by ``import
inmesh``. Traces and access logs will be further hooks beside ``MetricsHook``.
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
from ._record import RecordHook, RequestRecord

__all__ = [
    "ADMIN_PORT_NAME",
    "ENVOY_BUCKETS",
    "LABEL_NAMES",
    "METRICS_PATH",
    "AdminServer",
    "MetricsHook",
    "RecordHook",
    "RequestRecord",
    "canonical_revision",
    "canonical_service",
    "default_metrics",
    "labels_of",
    "metrics_app",
    "namespace_of_principal",
    "request_protocol",
    "start_admin_server",
]
