"""One RequestRecord per outbound request, delivered to the workload's hooks."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .._flags import PASSTHROUGH_CLUSTER
from ..telemetry import RequestRecord

if TYPE_CHECKING:
    import httpx

    from .._state import MeshState
    from ..routing import Cluster, Route


def emit(
    state: MeshState,
    request: httpx.Request,
    *,
    status: int,
    flags: str,
    start: float,
    attempts: int,
    cluster: Cluster | None,
    route: Route | None,
    endpoint: str = "",
    destination: str = "",
    cluster_name: str = "",
    details: str = "",
    error: str = "",
) -> None:
    """Build the record and call every hook (nothing to do without hooks)."""
    hooks = state.hooks
    if not hooks:
        return
    end = time.perf_counter()
    identity = state.identity
    rec = RequestRecord(
        source_service=identity.service,
        source_namespace=identity.namespace,
        source_version=state.version,
        destination_service=cluster.service.host if cluster is not None else destination,
        destination_subset=(cluster.subset or "") if cluster is not None else "",
        destination_endpoint=endpoint,
        route_name=route.name if route is not None else "",
        cluster=cluster.name if cluster is not None else (cluster_name or PASSTHROUGH_CLUSTER),
        method=request.method,
        path=request.url.path,
        status=status,
        response_flags=flags or "-",
        attempts=attempts,
        duration=end - start,
        start_time=time.time() - (end - start),
        details=details,
        error=error,
    )
    for hook in hooks:
        hook(rec)
