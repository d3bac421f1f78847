"""The Mesh resolves the Telemetry API on every configuration change, and installs the
access-log hook only while something may log."""

from __future__ import annotations

from typing import Any

import pytest

import inmesh
from inmesh.telemetry import AccessLogHook


def telemetry(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "telemetry.istio.io/v1",
        "kind": "Telemetry",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def access_log_hooks(mesh: inmesh.Mesh) -> list[Any]:
    return [h for h in mesh.hooks if isinstance(h, AccessLogHook)]


def test_policy_follows_apply_and_the_hook_follows_the_policy() -> None:
    mesh = inmesh.Mesh(service="reviews", labels={"app": "reviews"}, metrics=False)
    assert mesh.hooks == () and mesh.telemetry.sources == ()
    logging_on = telemetry("mesh-default", "istio-system", accessLogging=[{}])
    mesh.apply([logging_on])
    assert mesh.telemetry.sources == ("istio-system/mesh-default",)
    assert len(access_log_hooks(mesh)) == 1
    mesh.apply([logging_on, telemetry("off", "default", accessLogging=[{"disabled": True}])])
    assert mesh.telemetry.server_log is not None and mesh.telemetry.server_log.disabled
    assert access_log_hooks(mesh) == []
    mesh.apply([])
    assert mesh.telemetry.sources == () and mesh.hooks == ()


def test_mesh_setting_keeps_the_hook_and_telemetry_can_still_turn_it_off() -> None:
    mesh = inmesh.Mesh(service="reviews", access_log="json")
    [hook] = access_log_hooks(mesh)
    assert hook.enabled and hook.encoding == "json"
    mesh.apply([telemetry("off", "default", accessLogging=[{"disabled": True}])])
    assert access_log_hooks(mesh) == [hook]  # installed; the rule says off per record
    assert mesh.telemetry.client_log is not None and mesh.telemetry.client_log.disabled


def test_a_workload_sees_only_its_namespace_and_the_root() -> None:
    docs = [
        telemetry("other", "other", tracing=[{"randomSamplingPercentage": 50}]),
        telemetry("mine", "shop", tracing=[{"randomSamplingPercentage": 5}]),
    ]
    mesh = inmesh.Mesh(service="cart", namespace="shop", config=docs)
    assert mesh.telemetry.sources == ("shop/mine",)
    assert inmesh.telemetry.tracing_settings(mesh.telemetry) == (5.0, {}, False)


def test_bad_access_log_setting_is_refused() -> None:
    with pytest.raises(
        inmesh.ConfigError, match="access_log must be True, False, 'text' or 'json'"
    ):
        inmesh.Mesh(service="reviews", access_log="xml")  # type: ignore[arg-type]


def test_unsupported_telemetry_is_refused_by_the_mesh() -> None:
    bad = telemetry("t", "default", accessLogging=[{"providers": [{"name": "stackdriver"}]}])
    with pytest.raises(inmesh.ConfigError, match="provider 'stackdriver' is not supported yet"):
        inmesh.Mesh(service="reviews", config=[bad])
