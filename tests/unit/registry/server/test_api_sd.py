"""Prometheus service discovery: one registration to one target group."""

from __future__ import annotations

from typing import Any

from inmesh.registry.server._api_sd import target_group


def entry(address: str = "10.0.0.7", **ports: int) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "reviews-v2",
            "labels": {"app": "reviews", "service.istio.io/canonical-revision": "r2"},
        },
        "spec": {"address": address, "ports": {"http": 9080, **ports}},
    }


def test_a_workload_with_an_admin_port_is_a_target() -> None:
    group = target_group("default", "reviews-v2", entry(**{"http-envoy-prom": 15090}))
    assert group == {
        "targets": ["10.0.0.7:15090"],
        "labels": {
            "__metrics_path__": "/stats/prometheus",
            "namespace": "default",
            "pod": "reviews-v2",
            # no version label: the workload is named after its app, as a Mesh names itself
            "workload": "reviews",
            "app": "reviews",
            "canonical_service": "reviews",
            "canonical_revision": "r2",
            "__meta_inmesh_label_app": "reviews",
            "__meta_inmesh_label_service_istio_io_canonical_revision": "r2",
        },
    }


def test_ipv6_addresses_are_bracketed() -> None:
    group = target_group("default", "w", entry("::1", **{"http-envoy-prom": 15090}))
    assert group is not None
    assert group["targets"] == ["[::1]:15090"]


def test_a_workload_without_an_admin_port_is_not_listed() -> None:
    assert target_group("default", "reviews-v2", entry()) is None
