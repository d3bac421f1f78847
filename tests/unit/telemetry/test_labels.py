"""Istio's standard labels from records: unknowns, canonical names, principals."""

from __future__ import annotations

import pytest

from inmesh.telemetry import (
    LABEL_NAMES,
    canonical_revision,
    canonical_service,
    labels_of,
    namespace_of_principal,
    request_protocol,
)
from inmesh.telemetry._labels import service_name

from .records import record


def labels(**overrides: object) -> dict[str, str]:
    return dict(zip(LABEL_NAMES, labels_of(record(**overrides)), strict=True))


def test_every_standard_label_is_named_once() -> None:
    assert len(set(LABEL_NAMES)) == len(LABEL_NAMES) == 25
    for side in ("source", "destination"):
        for part in ("workload", "workload_namespace", "principal", "app", "version"):
            assert f"{side}_{part}" in LABEL_NAMES
        assert f"{side}_canonical_service" in LABEL_NAMES
        assert f"{side}_canonical_revision" in LABEL_NAMES
        assert f"{side}_cluster" in LABEL_NAMES


@pytest.mark.parametrize(
    ("given", "name", "revision"),
    [
        ({}, "reviews-v2", "latest"),
        ({"app": "reviews", "version": "v2"}, "reviews", "v2"),
        (
            {"app": "reviews", "app.kubernetes.io/name": "rev", "app.kubernetes.io/version": "2"},
            "rev",
            "2",
        ),
        (
            {
                "app": "reviews",
                "version": "v2",
                "service.istio.io/canonical-name": "reviews-canon",
                "service.istio.io/canonical-revision": "r7",
            },
            "reviews-canon",
            "r7",
        ),
    ],
)
def test_canonical_service_and_revision_follow_istio(
    given: dict[str, str], name: str, revision: str
) -> None:
    assert canonical_service(given, "reviews-v2") == name
    assert canonical_revision(given) == revision


def test_a_bare_outbound_record_reports_unknown_where_istio_does() -> None:
    got = labels()
    assert got["reporter"] == "source"
    assert got["source_workload"] == "productpage"  # falls back to the Mesh's service
    assert got["source_workload_namespace"] == "default"
    assert got["source_principal"] == "unknown"
    assert got["source_app"] == "unknown"
    assert got["source_version"] == "v1"
    assert got["source_canonical_service"] == "productpage"
    assert got["source_canonical_revision"] == "latest"
    assert got["source_cluster"] == "unknown"
    assert got["destination_workload"] == "unknown"
    assert got["destination_workload_namespace"] == "unknown"
    assert got["destination_principal"] == "unknown"
    assert got["destination_app"] == "unknown"
    assert got["destination_version"] == "unknown"
    assert got["destination_canonical_service"] == "unknown"
    assert got["destination_canonical_revision"] == "latest"
    assert got["destination_service"] == "reviews.default.svc.cluster.local"
    assert got["destination_service_name"] == "reviews"
    assert got["destination_service_namespace"] == "unknown"
    assert got["connection_security_policy"] == "unknown"
    assert got["request_protocol"] == "http"
    assert got["response_code"] == "200"
    assert got["response_flags"] == "-"
    assert got["grpc_response_status"] == ""


def test_a_destination_record_with_mtls_and_peer_metadata() -> None:
    got = labels(
        reporter="destination",
        source_workload="productpage-v1",
        source_principal="spiffe://cluster.local/ns/default/sa/bookinfo-productpage",
        source_labels={"app": "productpage", "version": "v1"},
        source_cluster="Kubernetes",
        destination_workload="reviews-v2",
        destination_namespace="default",
        destination_principal="spiffe://cluster.local/ns/default/sa/bookinfo-reviews",
        destination_labels={"app": "reviews", "version": "v2"},
        connection_security_policy="mutual_tls",
        status=503,
        response_flags="UF",
        request_protocol="grpc",
        grpc_status="14",
    )
    assert got["reporter"] == "destination"
    assert got["source_workload"] == "productpage-v1"
    assert got["source_principal"] == "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"
    assert got["source_app"] == "productpage"
    assert got["source_canonical_service"] == "productpage"
    assert got["source_canonical_revision"] == "v1"
    assert got["source_cluster"] == "Kubernetes"
    assert got["destination_workload"] == "reviews-v2"
    assert got["destination_workload_namespace"] == "default"
    assert got["destination_service_namespace"] == "default"
    assert got["destination_principal"].startswith("spiffe://")
    assert got["destination_canonical_service"] == "reviews"
    assert got["destination_canonical_revision"] == "v2"
    assert got["connection_security_policy"] == "mutual_tls"
    assert (got["response_code"], got["response_flags"]) == ("503", "UF")
    assert (got["request_protocol"], got["grpc_response_status"]) == ("grpc", "14")


@pytest.mark.parametrize(
    ("host", "cluster", "name"),
    [
        ("reviews.default.svc.cluster.local", "", "reviews"),
        ("api.example.com", "", "api.example.com"),
        ("example.com", "PassthroughCluster", "PassthroughCluster"),
        ("nowhere.example", "BlackHoleCluster", "BlackHoleCluster"),
        ("", "", "unknown"),
    ],
)
def test_destination_service_name(host: str, cluster: str, name: str) -> None:
    assert service_name(host, cluster) == name


def test_labels_carry_no_path_method_endpoint_or_id() -> None:
    values = labels_of(record(path="/reviews/12345", destination_endpoint="10.1.2.3:9080"))
    assert "/reviews/12345" not in values
    assert "10.1.2.3:9080" not in values
    assert "GET" not in values


@pytest.mark.parametrize(
    ("content_type", "protocol"),
    [
        ("application/grpc", "grpc"),
        ("application/grpc+proto", "grpc"),
        ("Application/GRPC;charset=utf-8", "grpc"),
        ("application/grpc-web", "http"),
        ("application/json", "http"),
        ("", "http"),
    ],
)
def test_request_protocol_as_envoy_tells_grpc(content_type: str, protocol: str) -> None:
    assert request_protocol(content_type) == protocol


@pytest.mark.parametrize(
    ("principal", "namespace"),
    [
        ("spiffe://cluster.local/ns/bookinfo/sa/reviews", "bookinfo"),
        ("spiffe://cluster.local/ns/default", "default"),
        ("spiffe://cluster.local/sa/reviews", ""),
        ("", ""),
    ],
)
def test_namespace_of_principal(principal: str, namespace: str) -> None:
    assert namespace_of_principal(principal) == namespace
