"""The registry's own metrics at ``GET /metrics``, named as istiod's (port 15014).

``pilot_xds`` (proxies watching this replica), ``pilot_services`` (service hosts known:
ServiceEntry hosts and Kubernetes Services), ``pilot_virt_services`` (VirtualServices),
``pilot_xds_pushes{type="snapshot"}`` (snapshots handed to watchers; istiod counts per xDS
type, a registry push is one whole snapshot) and ``pilot_proxy_convergence_time`` (seconds
from a configuration change to a watcher receiving it, istiod's buckets). Counts are read
at scrape time from the push hub and the proxy tracker; no credentials, as istiod's
monitoring port (the numbers name no resource).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:
    from ._context import Context

__all__ = ["CONVERGENCE_BUCKETS", "RegistryMetrics", "registry_metrics"]

#: istiod's ``pilot_proxy_convergence_time`` buckets (pilot/pkg/xds/monitoring.go).
CONVERGENCE_BUCKETS = (0.1, 0.5, 1, 3, 5, 10, 20, 30)


class RegistryMetrics:
    """The metrics of one registry application; created by ``create_app``."""

    def __init__(self, context: Context) -> None:
        from prometheus_client import CollectorRegistry, Histogram

        self.context = context
        self.registry = CollectorRegistry()
        self.convergence = Histogram(
            "pilot_proxy_convergence_time",
            "Delay in seconds between config change and a proxy receiving all required "
            "configuration.",
            buckets=CONVERGENCE_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(self)
        context.hub.on_push.append(self.convergence.observe)

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        ctx = self.context
        services = virtual_services = 0
        for doc in ctx.hub.current.documents:
            kind = doc.get("kind")
            if kind == "ServiceEntry":
                services += len((doc.get("spec") or {}).get("hosts") or ())
            elif kind == "Service":
                services += 1
            elif kind == "VirtualService":
                virtual_services += 1
        yield GaugeMetricFamily(
            "pilot_xds",
            "Number of endpoints connected to this pilot using XDS.",
            value=len(ctx.proxies.proxies()),
        )
        yield GaugeMetricFamily("pilot_services", "Total services known to pilot.", services)
        yield GaugeMetricFamily(
            "pilot_virt_services", "Total virtual services known to pilot.", virtual_services
        )
        pushes = CounterMetricFamily(
            "pilot_xds_pushes",
            "Pilot build and send errors for lds, rds, cds and eds.",
            labels=["type"],
        )
        pushes.add_metric(["snapshot"], ctx.hub.pushes)
        yield pushes

    def exposition(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


async def registry_metrics(request: Request) -> Response:
    metrics: RegistryMetrics = request.app.state.registry_metrics
    return Response(metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")
