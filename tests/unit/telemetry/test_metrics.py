"""MetricsHook: Istio's four HTTP metrics, parsed back from the text format."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from inmesh.telemetry import ENVOY_BUCKETS, MetricsHook, RequestRecord, default_metrics

from .records import record


def families(hook: MetricsHook) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(hook.exposition().decode())}


def test_envoy_default_buckets() -> None:
    assert ENVOY_BUCKETS[0] == 0.5
    assert ENVOY_BUCKETS[-1] == 3600000
    assert len(ENVOY_BUCKETS) == 19
    assert list(ENVOY_BUCKETS) == sorted(ENVOY_BUCKETS)


def test_a_record_counts_once_and_lands_in_its_buckets() -> None:
    hook = MetricsHook()
    hook(record(duration=0.012, request_bytes=0, response_bytes=300))
    hook(record(duration=0.0004, request_bytes=10, response_bytes=300))
    got = families(hook)
    assert set(got) == {
        "istio_requests",
        "istio_request_duration_milliseconds",
        "istio_request_bytes",
        "istio_response_bytes",
    }
    (total,) = got["istio_requests"].samples
    assert total.name == "istio_requests_total"
    assert total.value == 2
    assert total.labels["destination_service"] == "reviews.default.svc.cluster.local"
    buckets = {
        s.labels["le"]: s.value
        for s in got["istio_request_duration_milliseconds"].samples
        if s.name.endswith("_bucket")
    }
    assert buckets["0.5"] == 1  # 0.4 ms
    assert buckets["10"] == 1
    assert buckets["25"] == 2  # 12 ms
    assert buckets["3.6e+06"] == 2
    assert buckets["+Inf"] == 2
    sums = {s.name: s.value for f in got.values() for s in f.samples if s.name.endswith("_sum")}
    assert abs(sums["istio_request_duration_milliseconds_sum"] - 12.4) < 1e-9
    assert sums["istio_request_bytes_sum"] == 10
    assert sums["istio_response_bytes_sum"] == 600


def test_a_value_on_a_bound_counts_in_that_bucket() -> None:
    hook = MetricsHook()
    hook(record(response_bytes=1000))
    got = families(hook)["istio_response_bytes"]
    buckets = {s.labels["le"]: s.value for s in got.samples if s.name.endswith("_bucket")}
    assert (buckets["500"], buckets["1000"]) == (0, 1)


def test_distinct_outcomes_are_distinct_series_and_paths_are_not() -> None:
    hook = MetricsHook()
    for i in range(50):
        hook(record(path=f"/reviews/{i}", destination_endpoint=f"127.0.0.{i}:9080"))
    hook(record(status=503, response_flags="UF"))
    hook(record(status=503, response_flags="UF"))
    samples = families(hook)["istio_requests"].samples
    by_code = {(s.labels["response_code"], s.labels["response_flags"]): s.value for s in samples}
    assert by_code == {("200", "-"): 50, ("503", "UF"): 2}


def test_labels_of_a_new_mapping_with_equal_content_join_the_same_series() -> None:
    hook = MetricsHook()
    hook(record(source_labels={"app": "productpage", "version": "v1"}))
    hook(record(source_labels={"app": "productpage", "version": "v1"}))
    (sample,) = families(hook)["istio_requests"].samples
    assert sample.value == 2
    assert sample.labels["source_app"] == "productpage"


def test_the_process_hook_is_one() -> None:
    assert default_metrics() is default_metrics()


def three_records() -> list[RequestRecord]:
    """Two requests of one label set (a bucket and a byte size apart) and a 503."""
    return [
        record(duration=0.012, request_bytes=0, response_bytes=300),
        record(duration=0.0004, request_bytes=10, response_bytes=300),
        record(duration=2.5, request_bytes=70000, response_bytes=0, status=503),
    ]


def test_series_for_and_count_count_as_a_record_does() -> None:
    called, kept = MetricsHook(), MetricsHook()
    recs = three_records()
    for rec in recs:
        called(rec)
        kept.count(kept.series_for(rec), rec.duration, rec.request_bytes, rec.response_bytes)
    assert kept.series_for(recs[0]) is kept.series_for(recs[1])  # one label set, one series
    assert kept.exposition() == called.exposition()


def test_count_by_counts_as_count_once_the_key_is_learned() -> None:
    called, keyed = MetricsHook(), MetricsHook()
    recs = three_records()
    for rec in recs:
        called(rec)
        key = ("mine", rec.status)
        if not keyed.count_by(key, rec.duration, rec.request_bytes, rec.response_bytes):
            keyed.learn(key, None, rec)
    assert keyed.exposition() == called.exposition()
    assert keyed.count_by(("unknown",), 1.0, 1, 1) is False
    assert keyed.exposition() == called.exposition()  # an unknown key counts nothing
