"""Istio's metadata exchange headers: written as a sidecar writes them, read from a
sidecar's or ambient's."""

from __future__ import annotations

import base64

from inmesh.telemetry._exchange import (
    PEER_METADATA_HEADER,
    PEER_METADATA_ID_HEADER,
    PeerMetadata,
    exchange_headers,
    peer_from_headers,
)
from inmesh.telemetry._struct import decode_struct, encode_struct

REVIEWS = {"app": "reviews", "version": "v2", "security.istio.io/tlsMode": "istio"}


def headers() -> tuple[tuple[bytes, bytes], tuple[bytes, bytes]]:
    return exchange_headers(
        workload="reviews-v2",
        namespace="bookinfo",
        labels=REVIEWS,
        service_account="bookinfo-reviews",
        address="10.0.0.7",
        cluster="Kubernetes",
    )


def test_the_pair_a_sidecar_sends() -> None:
    (id_name, node_id), (name, value) = headers()
    assert (id_name, name) == (PEER_METADATA_ID_HEADER, PEER_METADATA_HEADER)
    assert node_id == b"sidecar~10.0.0.7~reviews-v2.bookinfo~bookinfo.svc.cluster.local"
    assert decode_struct(base64.b64decode(value)) == {
        "NAME": "reviews-v2",
        "NAMESPACE": "bookinfo",
        "CLUSTER_ID": "Kubernetes",
        "WORKLOAD_NAME": "reviews-v2",
        "SERVICE_ACCOUNT": "bookinfo-reviews",
        "OWNER": "kubernetes://apis/apps/v1/namespaces/bookinfo/deployments/reviews-v2",
        # only the labels telemetry reads, with the canonical ones Istio's injector adds
        "LABELS": {
            "app": "reviews",
            "version": "v2",
            "service.istio.io/canonical-name": "reviews",
            "service.istio.io/canonical-revision": "v2",
        },
    }


def test_a_sidecars_metadata_is_read_back() -> None:
    peer = peer_from_headers(headers()[1][1])
    assert peer is not None
    assert (peer.workload, peer.namespace, peer.cluster, peer.service_account) == (
        "reviews-v2",
        "bookinfo",
        "Kubernetes",
        "bookinfo-reviews",
    )
    assert dict(peer.labels)["service.istio.io/canonical-revision"] == "v2"
    assert "security.istio.io/tlsMode" not in peer.labels


def test_istios_own_encoding_without_padding_is_read() -> None:
    # Istio's tests encode with base64.RawStdEncoding (no padding) and full node metadata
    fields = {
        "NAME": "productpage-v1-84975bc778-pxz2w",
        "NAMESPACE": "default",
        "CLUSTER_ID": "client-cluster",
        "WORKLOAD_NAME": "productpage-v1",
        "LABELS": {"app": "productpage", "version": "v1", "pod-template-hash": "84975bc778"},
        "ISTIO_VERSION": "1.5-dev",
    }
    raw = base64.b64encode(encode_struct(fields)).rstrip(b"=")
    peer = peer_from_headers(raw)
    assert peer == PeerMetadata(
        workload="productpage-v1",
        namespace="default",
        labels={"app": "productpage", "version": "v1"},
        cluster="client-cluster",
        name="productpage-v1-84975bc778-pxz2w",
    )


def test_the_same_value_gives_the_same_labels_object() -> None:
    value = headers()[1][1]
    first, second = peer_from_headers(value), peer_from_headers(value)
    assert first is not None and second is not None
    assert first.labels is second.labels


def test_ambient_baggage_keys() -> None:
    baggage = (
        b"k8s.cluster.name=Kubernetes,k8s.namespace.name=bookinfo,"
        b"k8s.deployment.name=ratings-v1,service.name=ratings,service.version=v1,"
        b"app.name=ratings;prop=1,app.version=v%201,userid=alice"
    )
    peer = peer_from_headers(None, baggage)
    assert peer is not None
    assert (peer.workload, peer.namespace, peer.cluster) == ("ratings-v1", "bookinfo", "Kubernetes")
    assert dict(peer.labels) == {
        "service.istio.io/canonical-name": "ratings",
        "service.istio.io/canonical-revision": "v1",
        "app": "ratings",
        "version": "v 1",
    }


def test_the_sidecar_header_wins_over_baggage() -> None:
    peer = peer_from_headers(headers()[1][1], b"k8s.deployment.name=other")
    assert peer is not None and peer.workload == "reviews-v2"


def test_nothing_known_is_none() -> None:
    assert peer_from_headers(None, None) is None
    assert peer_from_headers(None, b"userid=alice,session=1") is None
    assert peer_from_headers(b"not base64!") is None
    assert peer_from_headers(base64.b64encode(b"\x0b")) is None  # not a Struct
