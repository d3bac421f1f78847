"""Telemetry resolution for one workload, as Istio's applicableTelemetries and its merges."""

from __future__ import annotations

from typing import Any

from inmesh.config import parse_documents
from inmesh.telemetry._policy import (
    EMPTY_POLICY,
    TagRule,
    applicable,
    resolve_telemetry,
    tracing_settings,
)
from tests.unit.telemetry.records import record

LABELS = {"app": "reviews", "version": "v1"}


def telemetry(name: str, namespace: str, spec: dict[str, Any], created: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if created:
        meta["creationTimestamp"] = created
    return {
        "apiVersion": "telemetry.istio.io/v1",
        "kind": "Telemetry",
        "metadata": meta,
        "spec": spec,
    }


def resolve(*docs: dict[str, Any], namespace: str = "default") -> Any:
    return resolve_telemetry(
        parse_documents(list(docs)), namespace=namespace, labels=LABELS, workload="reviews-v1"
    )


def sampling(pct: float, **extra: Any) -> dict[str, Any]:
    return {"tracing": [{"randomSamplingPercentage": pct, **extra}]}


def test_no_telemetry_is_the_empty_policy() -> None:
    assert resolve() is EMPTY_POLICY


def test_root_then_namespace_then_workload() -> None:
    docs = [
        telemetry(
            "wl", "default", {"selector": {"matchLabels": {"app": "reviews"}}, **sampling(30)}
        ),
        telemetry("mesh", "istio-system", sampling(10)),
        telemetry("ns", "default", sampling(20)),
        telemetry("other-ns", "other", sampling(99)),
        telemetry(
            "other-wl", "default", {"selector": {"matchLabels": {"app": "x"}}, **sampling(98)}
        ),
    ]
    policy = resolve(*docs)
    assert policy.sources == ("istio-system/mesh", "default/ns", "default/wl")
    assert policy.server_tracing is not None and policy.server_tracing.sampling == 30
    assert resolve(*docs[1:]).client_tracing.sampling == 20  # type: ignore[union-attr]
    assert resolve(*docs[1:2]).client_tracing.sampling == 10  # type: ignore[union-attr]


def test_selector_sees_the_canonical_name_istio_injects() -> None:
    doc = telemetry(
        "foo",
        "default",
        {
            "selector": {"matchLabels": {"service.istio.io/canonical-name": "reviews"}},
            **sampling(5),
        },
    )
    assert resolve(doc).sources == ("default/foo",)


def test_namespace_level_the_oldest_wins_workload_level_all_apply_oldest_first() -> None:
    docs = [
        telemetry("b-new", "default", sampling(2), "2024-01-02T00:00:00Z"),
        telemetry("a-old", "default", sampling(1), "2024-01-01T00:00:00Z"),
        telemetry(
            "z",
            "default",
            {"selector": {"matchLabels": LABELS}, **sampling(3)},
            "2024-01-01T00:00:00Z",
        ),
        telemetry(
            "y",
            "default",
            {"selector": {"matchLabels": LABELS}, **sampling(4)},
            "2024-01-03T00:00:00Z",
        ),
    ]
    chosen = applicable(parse_documents(docs), namespace="default", labels=LABELS)
    assert [t.name for t in chosen] == ["a-old", "z", "y"]
    assert resolve(*docs).server_tracing.sampling == 4  # type: ignore[union-attr]
    # undated: by name (Istio's tie-break)
    undated = [telemetry("b", "default", sampling(2)), telemetry("a", "default", sampling(1))]
    assert resolve(*undated).sources == ("default/a",)


def test_a_root_namespace_workload_reads_its_namespace_once() -> None:
    policy = resolve(telemetry("mesh", "istio-system", sampling(7)), namespace="istio-system")
    assert policy.sources == ("istio-system/mesh",)


def overrides(*items: dict[str, Any]) -> dict[str, Any]:
    return {"metrics": [{"providers": [{"name": "prometheus"}], "overrides": list(items)}]}


def test_metric_overrides_merge_per_mode_metric_and_tag() -> None:
    root = telemetry(
        "mesh",
        "istio-system",
        overrides(
            {
                "match": {"metric": "REQUEST_COUNT"},
                "tagOverrides": {"response_code": {"operation": "REMOVE"}},
            },
            {"match": {"metric": "REQUEST_SIZE", "mode": "SERVER"}, "disabled": True},
        ),
    )
    ns = telemetry(
        "ns",
        "default",
        overrides(
            {
                "match": {"metric": "REQUEST_COUNT", "mode": "CLIENT"},
                "tagOverrides": {"request_host": {"value": "request.host"}},
            },
            {"match": {"metric": "REQUEST_SIZE", "mode": "SERVER"}, "disabled": False},
        ),
    )
    policy = resolve(root, ns)
    client = policy.client_metrics.overrides["REQUEST_COUNT"]
    assert [(t.name, t.remove, t.expression) for t in client.tags] == [
        ("request_host", False, "request.host"),
        ("response_code", True, ""),
    ]
    server = policy.server_metrics.overrides["REQUEST_COUNT"]
    assert server.tags == (TagRule("response_code", True),)
    assert "REQUEST_SIZE" not in policy.server_metrics.overrides  # re-enabled, nothing left


def test_all_metrics_disabled_until_a_lower_level_turns_a_mode_back_on() -> None:
    root = telemetry(
        "mesh", "istio-system", overrides({"match": {"metric": "ALL_METRICS"}, "disabled": True})
    )
    policy = resolve(root)
    assert policy.client_metrics.disabled and policy.server_metrics.disabled
    ns = telemetry(
        "ns",
        "default",
        overrides({"match": {"metric": "REQUEST_COUNT", "mode": "SERVER"}, "disabled": False}),
    )
    policy = resolve(root, ns)
    assert policy.client_metrics.disabled
    assert not policy.server_metrics.disabled and policy.server_metrics.plain


def test_access_logging_last_matching_entry_decides_per_mode() -> None:
    root = telemetry(
        "mesh",
        "istio-system",
        {
            "accessLogging": [
                {"providers": [{"name": "envoy"}], "filter": {"expression": "response.code >= 500"}}
            ]
        },
    )
    ns = telemetry(
        "ns", "default", {"accessLogging": [{"match": {"mode": "CLIENT"}, "disabled": True}]}
    )
    policy = resolve(root, ns)
    assert policy.client_log is not None and policy.client_log.disabled
    server = policy.server_log
    assert server is not None and not server.disabled
    assert server.filter == "response.code >= 500" and server.matches is not None
    assert server.matches(record(status=503)) and not server.matches(record(status=404))
    assert policy.logs_anything
    assert resolve(telemetry("t", "default", sampling(1))).client_log is None  # not configured


def test_tracing_fields_override_one_by_one_and_custom_tags_whole() -> None:
    root = telemetry(
        "mesh",
        "istio-system",
        sampling(
            10, customTags={"a": {"literal": {"value": "x"}}, "b": {"literal": {"value": "y"}}}
        ),
    )
    ns = telemetry(
        "ns",
        "default",
        {
            "tracing": [
                {
                    "match": {"mode": "SERVER"},
                    "disableSpanReporting": True,
                    "customTags": {
                        "env": {
                            "environment": {"name": "INMESH_TEST_UNSET_VAR", "defaultValue": "d"}
                        },
                        "hdr": {"header": {"name": "x-user"}},
                    },
                }
            ]
        },
    )
    policy = resolve(root, ns)
    literal = {"a": ("literal", "x", ""), "b": ("literal", "y", "")}
    assert tracing_settings(policy, "source") == (10.0, literal, False)
    assert tracing_settings(policy, "destination") == (
        10.0,
        {"env": ("literal", "d", ""), "hdr": ("header", "x-user", "")},
        True,
    )
    assert tracing_settings(EMPTY_POLICY) is None
