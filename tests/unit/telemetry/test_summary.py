"""The per-edge summary of scraped metrics ``inmesh demo`` prints."""

from __future__ import annotations

import math

from inmesh.telemetry import MetricsHook
from inmesh.telemetry._summary import (
    EdgeSummary,
    format_edges,
    histogram_quantile,
    summarize_edges,
)
from tests.unit.telemetry.records import record


def test_histogram_quantile_interpolates_as_prometheus() -> None:
    # 10 observations: 4 in (0, 5], 6 in (5, 10]
    buckets = [(5.0, 4.0), (10.0, 10.0), (math.inf, 10.0)]
    assert histogram_quantile(0.5, buckets) == 5.0 + 5.0 * (5 - 4) / 6
    assert histogram_quantile(0.2, buckets) == 2.5
    assert histogram_quantile(1.0, buckets) == 10.0


def test_a_rank_in_the_inf_bucket_is_the_largest_finite_bound() -> None:
    assert histogram_quantile(0.9, [(5.0, 1.0), (math.inf, 10.0)]) == 5.0


def test_no_observations_is_nan() -> None:
    assert math.isnan(histogram_quantile(0.5, [(5.0, 0.0), (math.inf, 0.0)]))
    assert math.isnan(histogram_quantile(0.5, []))


def test_edges_from_two_scrapes() -> None:
    one, two = MetricsHook(), MetricsHook()
    for _ in range(3):
        one(record(reporter="destination", duration=0.004))
    one(record(reporter="destination", status=503, duration=0.004))
    one(record(reporter="source", duration=0.004))  # the other reporter: not counted
    two(record(reporter="destination", duration=0.020))
    texts = [one.exposition().decode(), two.exposition().decode()]
    (edge,) = summarize_edges(texts)
    assert (edge.requests, edge.errors) == (5, 1)
    assert 1.0 < edge.p50_ms <= 5.0  # 4 of 5 in the (1, 5] bucket
    (line,) = format_edges([edge])
    assert line.startswith(f"{edge.source} -> {edge.destination} ({edge.service})")
    assert "5 requests" in line and "1 5xx" in line and "p50 " in line


def test_format_aligns_columns() -> None:
    edges = [
        EdgeSummary("a", "b", "svc", 10, 0, 1.5),
        EdgeSummary("productpage-v1", "reviews-v2", "reviews", 1000, 12, math.nan),
    ]
    lines = format_edges(edges)
    assert len({line.index("requests") for line in lines}) == 1
    assert lines[1].endswith("p50 -")
