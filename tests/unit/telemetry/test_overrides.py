"""MetricsHook under a Telemetry policy: dropped metrics, removed/changed/added labels."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from inmesh.telemetry import MetricsHook
from inmesh.telemetry._cel import compile_tag_value
from inmesh.telemetry._overrides import OVERFLOW, TAG_VALUE_LIMIT
from inmesh.telemetry._policy import MetricOverride, ModeMetrics, TagRule, TelemetryPolicy
from tests.unit.telemetry.records import record


def families(hook: MetricsHook) -> dict[str, Any]:
    text = hook.exposition().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def upsert(name: str, expression: str) -> TagRule:
    return TagRule(name, False, expression, compile_tag_value(expression))


def test_overrides_apply_to_their_mode_only() -> None:
    policy = TelemetryPolicy(
        client_metrics=ModeMetrics(
            overrides={
                "REQUEST_COUNT": MetricOverride(
                    tags=(
                        upsert("request_host", "request.host"),
                        upsert("response_code", "'any'"),
                        TagRule("source_principal", True),
                    )
                ),
                "RESPONSE_SIZE": MetricOverride(disabled=True),
            }
        )
    )
    hook = MetricsHook()
    headers = {"host": "reviews:9080"}
    hook(record(telemetry=policy, request_headers=headers, response_bytes=10))
    hook(record(telemetry=policy, reporter="destination", response_bytes=10))
    found = families(hook)
    by_reporter = {s.labels["reporter"]: s for s in found["istio_requests"].samples}
    client = by_reporter["source"].labels
    assert client["request_host"] == "reviews:9080"
    assert client["response_code"] == "any"
    assert "source_principal" not in client
    assert by_reporter["destination"].labels["response_code"] == "200"
    assert "request_host" not in by_reporter["destination"].labels
    sizes = {s.labels["reporter"] for s in found["istio_response_bytes"].samples}
    assert sizes == {"destination"}
    # the untouched histograms of the overridden mode keep the standard labels, le and all
    buckets = [
        s
        for s in found["istio_request_duration_milliseconds"].samples
        if s.labels["reporter"] == "source" and s.name.endswith("_bucket")
    ]
    assert [b.labels["le"] for b in buckets][-1] == "+Inf"
    assert buckets[-1].value == 1 and buckets[-1].labels["response_code"] == "200"


def test_a_mode_with_every_metric_disabled_writes_nothing() -> None:
    policy = TelemetryPolicy(server_metrics=ModeMetrics(disabled=True))
    hook = MetricsHook()
    hook(record(telemetry=policy, reporter="destination"))
    assert hook.snapshot() == []
    assert not families(hook)["istio_requests"].samples
    hook(record(telemetry=policy))  # the source side is untouched
    assert len(hook.snapshot()) == 1


def test_header_values_are_bounded() -> None:
    rule = upsert("user", "request.headers['x-user']")
    policy = TelemetryPolicy(
        client_metrics=ModeMetrics(overrides={"REQUEST_COUNT": MetricOverride(tags=(rule,))})
    )
    hook = MetricsHook()
    for i in range(TAG_VALUE_LIMIT + 5):
        hook(record(telemetry=policy, request_headers={"x-user": f"u{i}"}))
    users = {s.labels["user"] for s in families(hook)["istio_requests"].samples}
    assert len(users) == TAG_VALUE_LIMIT + 1
    assert OVERFLOW in users
