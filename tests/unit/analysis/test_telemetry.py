"""Istio's Telemetry analyzers, and INM0002 for what the runtime refuses."""

from __future__ import annotations

from typing import Any

from inmesh.analysis import check
from inmesh.config import parse_documents


def telemetry(name: str, namespace: str = "default", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "telemetry.istio.io/v1",
        "kind": "Telemetry",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def workload(name: str, labels: dict[str, str], namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "WorkloadEntry",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"address": "10.0.0.1", "labels": labels},
    }


def lines(*docs: dict[str, Any], complete: bool = True) -> list[str]:
    return [m.format() for m in check(parse_documents(list(docs)), complete=complete)]


def test_ist0160_two_telemetries_without_selector_in_a_namespace() -> None:
    found = lines(telemetry("a"), telemetry("b"), telemetry("c", "other"))
    assert found == [
        'Error [IST0160] (Telemetry default/a) The Telemetries [a b] in namespace "default" '
        "have no workload selector, which can lead to undefined behavior.",
        'Error [IST0160] (Telemetry default/b) The Telemetries [a b] in namespace "default" '
        "have no workload selector, which can lead to undefined behavior.",
    ]


def test_ist0101_selector_that_matches_no_workload_of_its_namespace() -> None:
    sel = {"matchLabels": {"app": "ratings"}}
    found = lines(telemetry("t", selector=sel), workload("ratings", {"app": "ratings"}, "other"))
    assert found == [
        'Error [IST0101] (Telemetry default/t) Referenced selector not found: "app=ratings"'
    ]
    assert lines(telemetry("t", selector=sel), workload("ratings", {"app": "ratings"})) == []
    # a registry's mesh resources alone: the workloads are not known
    assert lines(telemetry("t", selector=sel), complete=False) == []


def test_ist0159_a_workload_selected_by_two_telemetries() -> None:
    found = lines(
        telemetry("x", selector={"matchLabels": {"app": "ratings"}}),
        telemetry("y", selector={"matchLabels": {"version": "v1"}}),
        workload("ratings-v1", {"app": "ratings", "version": "v1"}),
    )
    assert found == [
        f"Error [IST0159] (Telemetry default/{n}) The Telemetries [x y] in namespace "
        '"default" select the same workload pod "ratings-v1", which can lead to undefined '
        "behavior."
        for n in ("x", "y")
    ]


def test_inm0002_for_what_the_runtime_refuses() -> None:
    doc = telemetry(
        "t",
        accessLogging=[{"providers": [{"name": "otel-als"}]}],
        metrics=[{"reportingInterval": "10s"}],
    )
    found = [line.removesuffix(" [<memory> document 1]") for line in lines(doc)]
    assert (
        "Error [INM0002] (Telemetry default/t) spec.accessLogging[0].providers[0].name: "
        "provider 'otel-als' is not supported yet (the built-in provider is 'envoy')"
    ) in found
    assert (
        "Error [INM0002] (Telemetry default/t) spec.metrics[0].reportingInterval: "
        "reportingInterval is not supported yet"
    ) in found
