"""RequestRecords for telemetry tests."""

from __future__ import annotations

from typing import Any

from inmesh.telemetry import RequestRecord


def record(**overrides: Any) -> RequestRecord:
    """A successful outbound request from productpage to reviews, with ``overrides``."""
    fields: dict[str, Any] = {
        "source_service": "productpage",
        "source_namespace": "default",
        "source_version": "v1",
        "destination_service": "reviews.default.svc.cluster.local",
        "destination_subset": "v2",
        "destination_endpoint": "127.0.0.1:9080",
        "route_name": "reviews",
        "cluster": "outbound|9080|v2|reviews.default.svc.cluster.local",
        "method": "GET",
        "path": "/reviews/0",
        "status": 200,
        "response_flags": "-",
        "attempts": 1,
        "duration": 0.012,
        "start_time": 0.0,
    }
    fields.update(overrides)
    return RequestRecord(**fields)
