"""A per-edge summary of scraped Istio metrics: who called whom, how often, how many
failed, and the median duration, computed as Istio's dashboards compute them from the
series (``histogram_quantile`` over the ``_bucket`` counts). ``inmesh demo`` prints it."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["EdgeSummary", "format_edges", "histogram_quantile", "summarize_edges"]


@dataclass(frozen=True, slots=True)
class EdgeSummary:
    """One edge of the graph (source workload -> destination workload of a service)."""

    source: str
    destination: str
    service: str
    requests: int
    #: responses with a 5xx code (Istio's dashboards' success rate counts non-5xx)
    errors: int
    #: the median request duration in milliseconds (NaN without requests)
    p50_ms: float


def histogram_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float:
    """Prometheus's ``histogram_quantile``: ``buckets`` are (upper bound, cumulative count)
    including ``+Inf``; linear interpolation inside the bucket the rank falls in, the
    largest finite bound when it falls in ``+Inf``, NaN without observations."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] == 0:
        return math.nan
    rank = q * ordered[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def summarize_edges(
    expositions: Iterable[str], *, reporter: str = "destination"
) -> list[EdgeSummary]:
    """The edges in Prometheus text expositions (several workloads' scrapes), from the
    series of one reporter, sorted by source and destination."""
    from prometheus_client.parser import text_string_to_metric_families

    Key = tuple[str, str, str]
    requests: dict[Key, float] = {}
    errors: dict[Key, float] = {}
    buckets: dict[Key, dict[float, float]] = {}
    for text in expositions:
        for family in text_string_to_metric_families(text):
            if family.name not in ("istio_requests", "istio_request_duration_milliseconds"):
                continue
            for s in family.samples:
                labels = s.labels
                if labels.get("reporter") != reporter:
                    continue
                key = (
                    labels.get("source_workload", "unknown"),
                    labels.get("destination_workload", "unknown"),
                    labels.get("destination_service_name", "unknown"),
                )
                if s.name == "istio_requests_total":
                    requests[key] = requests.get(key, 0.0) + s.value
                    if labels.get("response_code", "").startswith("5"):
                        errors[key] = errors.get(key, 0.0) + s.value
                elif s.name == "istio_request_duration_milliseconds_bucket":
                    le = float(labels["le"])
                    per = buckets.setdefault(key, {})
                    per[le] = per.get(le, 0.0) + s.value
    return [
        EdgeSummary(
            source=key[0],
            destination=key[1],
            service=key[2],
            requests=int(requests[key]),
            errors=int(errors.get(key, 0.0)),
            p50_ms=histogram_quantile(0.5, buckets.get(key, {}).items()),
        )
        for key in sorted(requests)
    ]


def format_edges(edges: Iterable[EdgeSummary]) -> list[str]:
    """One aligned line per edge: ``source -> destination (service): n requests, e 5xx,
    p50 x ms``."""
    rows = [
        (
            f"{e.source} -> {e.destination} ({e.service})",
            f"{e.requests} requests",
            f"{e.errors} 5xx",
            f"p50 {e.p50_ms:.1f} ms" if not math.isnan(e.p50_ms) else "p50 -",
        )
        for e in edges
    ]
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return [f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c:>{widths[2]}}  {d}" for a, b, c, d in rows]
