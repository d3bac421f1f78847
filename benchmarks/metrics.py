"""What Istio's standard metrics cost per request: the MetricsHook against its alternatives.

    .venv/bin/python benchmarks/metrics.py [--number 200000] [--rounds 5]

Pure CPU, no I/O (timeit): one RequestRecord with every label-bearing field filled (peer
labels, principals, mTLS), delivered to

- **inmesh MetricsHook**: ``istio_requests_total`` and the three histograms, label set
  cached (the steady state: a workload's outcomes repeat), and a **new label set** each
  time (the first request of a series: the 25 labels derived);
- **prometheus_client children**: the same four metrics as prometheus_client ``Counter``
  and ``Histogram`` with cached ``.labels(...)`` children (one lock and one bucket scan per
  observation);
- **OpenTelemetry SDK**: a counter and three histograms with the same 25 attributes through
  the SDK's metric API (an in-memory reader).

Figures are the median over rounds of microseconds per record. Budget (issue 10): a few
microseconds per request for metrics.
"""

from __future__ import annotations

import argparse
import statistics
import timeit
from collections.abc import Callable
from dataclasses import replace

from inmesh.telemetry import (
    ENVOY_BUCKETS,
    LABEL_NAMES,
    MetricsHook,
    RequestRecord,
    labels_of,
)

SOURCE_LABELS = {"app": "productpage", "version": "v1"}
DESTINATION_LABELS = {"app": "reviews", "version": "v2"}


def sample() -> RequestRecord:
    return RequestRecord(
        source_service="productpage",
        source_namespace="default",
        source_version="v1",
        destination_service="reviews.default.svc.cluster.local",
        destination_subset="v2",
        destination_endpoint="127.0.0.1:9080",
        route_name="reviews",
        cluster="outbound|9080|v2|reviews.default.svc.cluster.local",
        method="GET",
        path="/reviews/0",
        status=200,
        response_flags="-",
        attempts=1,
        duration=0.0123,
        start_time=0.0,
        response_bytes=295,
        source_workload="productpage-v1",
        source_principal="spiffe://cluster.local/ns/default/sa/bookinfo-productpage",
        source_labels=SOURCE_LABELS,
        destination_workload="reviews-v2",
        destination_namespace="default",
        destination_principal="spiffe://cluster.local/ns/default/sa/bookinfo-reviews",
        destination_labels=DESTINATION_LABELS,
    )


def inmesh_cached() -> Callable[[], None]:
    hook, rec = MetricsHook(), sample()
    return lambda: hook(rec)


def inmesh_new_series() -> Callable[[], None]:
    hook, rec = MetricsHook(), sample()
    counter = iter(range(10**9))
    # a new status each time: a new series (the key cache starts over past 10,000)
    return lambda: hook(replace(rec, status=next(counter)))


def prometheus_children() -> Callable[[], None]:
    from prometheus_client import CollectorRegistry, Counter, Histogram

    reg = CollectorRegistry()
    values = labels_of(sample())
    total = Counter("istio_requests_total", "", LABEL_NAMES, registry=reg).labels(*values)
    hists = [
        Histogram(name, "", LABEL_NAMES, buckets=ENVOY_BUCKETS, registry=reg).labels(*values)
        for name in ("d", "q", "r")
    ]
    d, q, r = hists
    rec = sample()

    def call() -> None:
        total.inc()
        d.observe(rec.duration * 1000)
        q.observe(rec.request_bytes)
        r.observe(rec.response_bytes)

    return call


def otel_sdk() -> Callable[[], None]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    meter = MeterProvider(metric_readers=[InMemoryMetricReader()]).get_meter("bench")
    total = meter.create_counter("istio_requests_total")
    hists = [meter.create_histogram(n) for n in ("d", "q", "r")]
    rec = sample()
    attrs = dict(zip(LABEL_NAMES, labels_of(rec), strict=True))

    def call() -> None:
        total.add(1, attrs)
        hists[0].record(rec.duration * 1000, attrs)
        hists[1].record(rec.request_bytes, attrs)
        hists[2].record(rec.response_bytes, attrs)

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    cases = {
        "inmesh MetricsHook (cached label set)": (inmesh_cached, args.number),
        "inmesh MetricsHook (new label set)": (inmesh_new_series, args.number // 10),
        "prometheus_client children": (prometheus_children, args.number),
        "OpenTelemetry SDK metric API": (otel_sdk, args.number // 10),
    }
    print(f"{'per record':40} {'us (median)':>12}")
    for name, (make, number) in cases.items():
        fn = make()
        fn()
        runs = [timeit.timeit(fn, number=number) / number * 1e6 for _ in range(args.rounds)]
        print(f"{name:40} {statistics.median(runs):12.2f}")


if __name__ == "__main__":
    main()
