"""The source side of metadata exchange: the destination's pair read and removed."""

from __future__ import annotations

from inmesh.outbound._exchange import take_peer
from inmesh.telemetry._exchange import exchange_headers

PAIR = exchange_headers(workload="ratings-v1", namespace="default", labels={"app": "ratings"})
RESPONSE = [(b"content-type", b"application/json"), (b"content-length", b"2")]


def test_the_pair_is_read_and_removed_whatever_the_case() -> None:
    (id_name, node_id), (_, value) = PAIR
    headers = [*RESPONSE, (id_name.upper(), node_id), (b"X-Envoy-Peer-Metadata", value)]
    kept, peer = take_peer(headers)
    assert kept == RESPONSE
    assert peer is not None and (peer.workload, peer.namespace) == ("ratings-v1", "default")


def test_without_the_pair_nothing_is_copied() -> None:
    kept, peer = take_peer(RESPONSE)
    assert kept is RESPONSE and peer is None


def test_an_id_alone_says_nothing_and_is_removed() -> None:
    kept, peer = take_peer([*RESPONSE, PAIR[0]])
    assert kept == RESPONSE and peer is None


def test_a_name_that_only_contains_the_pair_s_name_is_kept() -> None:
    headers = [*RESPONSE, (b"x-my-x-envoy-peer-metadata", b"v")]
    kept, peer = take_peer(headers)
    assert kept == headers and peer is None
