"""One record per request, successful or not: what Istio's standard metrics are made from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """What happened to one outbound request.

    Field names follow Istio's standard metric labels where one exists
    (``source_workload``, ``destination_service``, ``response_flags``...). ``duration`` is in
    seconds, from the transport receiving the request to the response body being closed.
    ``attempts`` counts tries sent upstream (0 when the mesh answered itself).
    ``details`` is Envoy's ``%RESPONSE_CODE_DETAILS%`` (``via_upstream``,
    ``response_timeout``, ``upstream_reset_before_response_started{connection_failure}``...);
    ``error`` says why the mesh failed the request, named by its tier
    (``endpoint 127.0.0.1:9080: connection refused``), empty when nothing failed.
    """

    source_service: str
    source_namespace: str
    source_version: str
    destination_service: str
    destination_subset: str
    destination_endpoint: str
    route_name: str
    cluster: str
    method: str
    path: str
    status: int
    response_flags: str
    attempts: int
    duration: float
    start_time: float
    details: str = ""
    error: str = ""


RecordHook = Callable[[RequestRecord], None]
