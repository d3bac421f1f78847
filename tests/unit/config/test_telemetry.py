"""Telemetry (telemetry.istio.io): Istio's field names and validation rules, each problem
naming its field; what the runtime refuses named too."""

from __future__ import annotations

from pathlib import Path

import pytest

from inmesh._runtime_support import check_supported
from inmesh.config import Telemetry
from tests.unit.config._helpers import assert_problem, load

HEAD = """
apiVersion: telemetry.istio.io/{version}
kind: Telemetry
metadata: {{name: t, namespace: foo}}
spec:
"""


def doc(spec: str, version: str = "v1") -> str:
    return HEAD.format(version=version) + spec


def test_istios_examples_load_with_both_versions(tmp_path: Path) -> None:
    spec = """
  selector:
    matchLabels: {service.istio.io/canonical-name: bar}
  tracing:
  - randomSamplingPercentage: 10.00
    disableSpanReporting: false
    customTags:
      my_new_foo_tag: {literal: {value: foo}}
      env: {environment: {name: POD, defaultValue: x}}
      user: {header: {name: x-user}}
  metrics:
  - providers: [{name: prometheus}]
    overrides:
    - match: {metric: ALL_METRICS, mode: SERVER}
      disabled: true
    - match: {metric: REQUEST_COUNT}
      tagOverrides:
        response_code: {operation: REMOVE}
        request_method: {value: request.method}
  accessLogging:
  - providers: [{name: envoy}]
    match: {mode: CLIENT}
    filter: {expression: response.code >= 400}
"""
    for version in ("v1", "v1alpha1"):
        [t] = load(tmp_path, doc(spec, version))
        assert isinstance(t, Telemetry)
        assert t.spec.tracing[0].random_sampling_percentage == 10.0
        assert t.spec.metrics[0].overrides[1].tag_overrides["response_code"].operation == "REMOVE"
        assert t.spec.access_logging[0].filter is not None
        check_supported([t])  # all of it supported


@pytest.mark.parametrize(
    ("spec", "field", "says"),
    [
        (
            "  tracing: [{randomSamplingPercentage: 100.5}]",
            "spec.tracing[0].randomSamplingPercentage",
            "must be in range [0.0, 100.0]",
        ),
        (
            "  metrics: [{overrides: [{tagOverrides: {x: {operation: UPSERT}}}]}]",
            "spec.metrics[0].overrides[0].tagOverrides.x.value",
            "must be set when operation is UPSERT",
        ),
        (
            "  metrics: [{overrides: [{tagOverrides: {x: {operation: REMOVE, value: a}}}]}]",
            "spec.metrics[0].overrides[0].tagOverrides.x.value",
            "may only be set when operation is UPSERT",
        ),
        (
            "  tracing: [{customTags: {t: {literal: {value: ''}}}}]",
            "spec.tracing[0].customTags.t.literal.value",
            "literal tag value may not be empty",
        ),
        (
            "  selector: {matchLabels: {app: a}}\n  targetRefs: [{kind: Service, name: a}]",
            "spec",
            "only one of targetRefs or workloadSelector can be set",
        ),
        ("  accessLogging: [{disabled: yes please}]", "spec.accessLogging[0].disabled", "bool"),
        *(
            (
                f"  {part}: [{{providers: [{{name: ''}}]}}]",
                f"spec.{part}[0].providers[0].name",
                "providers.name may not be empty",
            )
            for part in ("metrics", "accessLogging", "tracing")
        ),
        (
            "  metrics: [{overrides: [{match: {metric: EVERYTHING}}]}]",
            "spec.metrics[0].overrides[0].match.metric",
            "ALL_METRICS",
        ),
        (
            "  tracing: [{samplingRate: 1}]",
            "spec.tracing[0].samplingRate",
            "unknown field 'samplingRate'",
        ),
    ],
)
def test_bad_fields_are_named(tmp_path: Path, spec: str, field: str, says: str) -> None:
    assert_problem(tmp_path, doc(spec), field=field, says=says, resource="Telemetry foo/t")


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        (
            "  targetRefs: [{kind: Service, name: a}]",
            "spec.targetRefs: targetRefs is not supported yet",
        ),
        (
            "  tracing: [{providers: [{name: zipkin}]}]",
            "spec.tracing[0].providers[0].name: provider 'zipkin' is not supported yet",
        ),
        (
            "  metrics: [{overrides: [{match: {customMetric: my_metric}}]}]",
            "spec.metrics[0].overrides[0].match.customMetric: customMetric is not supported yet",
        ),
        (
            "  tracing: [{customTags: {t: {formatter: {value: '%REQ(x)%'}}}}]",
            "formatter is not supported yet",
        ),
        (
            "  accessLogging: [{filter: {expression: \"request.url_path.matches('^/v1')\"}}]",
            "spec.accessLogging[0].filter.expression: \"request.url_path.matches('^/v1')\": "
            "method matches() is not supported yet",
        ),
    ],
)
def test_what_the_runtime_cannot_honour_is_refused_by_name(
    tmp_path: Path, spec: str, says: str
) -> None:
    from inmesh import ConfigError

    resources = load(tmp_path, doc(spec))
    with pytest.raises(ConfigError) as info:
        check_supported(resources)
    assert says in str(info.value)
    assert all(p.code == "INM0002" for p in info.value.problems)
