"""Telemetry resources through a real registry: applied (and refused by name when the
runtime cannot honour them), pushed, and resolved by each Mesh for itself."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import inmesh
from tests.integration.registry.conftest import spawn_registry

pytestmark = pytest.mark.integration

MESH_DEFAULT = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  tracing: [{randomSamplingPercentage: 10}]
"""
RATINGS_LOGS = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: ratings-logs, namespace: default}
spec:
  selector: {matchLabels: {app: ratings}}
  accessLogging: [{filter: {expression: "response.code >= 500"}}]
"""
UNKNOWN_PROVIDER = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: stackdriver, namespace: default}
spec:
  metrics: [{providers: [{name: stackdriver}]}]
"""


def wait_for(predicate: object) -> None:
    for _ in range(400):
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.025)
    raise AssertionError("condition not reached")


def test_telemetry_is_pushed_and_resolved_per_workload(tmp_path: Path) -> None:
    registry = spawn_registry(tmp_path / "registry")
    try:
        refused = registry.apply(UNKNOWN_PROVIDER)
        assert refused.status_code == 400
        assert "provider 'stackdriver' is not supported yet" in refused.text
        assert registry.apply(MESH_DEFAULT).status_code == 200
        ratings = inmesh.Mesh(
            service="ratings",
            labels={"app": "ratings"},
            registry=registry.url,
            token=registry.admin,
            metrics=False,  # only the access-log hook counted below
        )
        reviews = inmesh.Mesh(
            service="reviews",
            labels={"app": "reviews"},
            registry=registry.url,
            token=registry.admin,
            metrics=False,  # only the access-log hook counted below
        )
        with ratings, reviews:
            assert ratings.telemetry.sources == ("istio-system/mesh-default",)
            assert ratings.hooks == ()
            assert registry.apply(RATINGS_LOGS).status_code == 200
            wait_for(lambda: len(ratings.telemetry.sources) == 2)
            assert ratings.telemetry.sources[-1] == "default/ratings-logs"
            rule = ratings.telemetry.server_log
            assert rule is not None and rule.filter == "response.code >= 500"
            assert len(ratings.hooks) == 1  # the access-log hook, installed by the push
            # reviews is not selected: the mesh-wide resource only, nothing logs
            assert reviews.telemetry.sources == ("istio-system/mesh-default",)
            assert reviews.hooks == ()
    finally:
        registry.stop()
