"""The source side of Istio's metadata exchange: which requests carry this workload's
``x-envoy-peer-metadata`` headers, and reading (and removing) the destination's from the
response before the application sees it (docs/observability.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..telemetry._exchange import PEER_METADATA_HEADER, peer_from_headers

if TYPE_CHECKING:
    from ..routing import Cluster
    from ..telemetry._exchange import PeerMetadata

_MESH_EXTERNAL = "MESH_EXTERNAL"
_PREFIX = len(PEER_METADATA_HEADER)


def mesh_internal(cluster: Cluster | None) -> bool:
    """A request to a mesh service: Istio sends its metadata there, never to a request
    leaving the mesh (PassthroughCluster: no cluster; a ServiceEntry ``MESH_EXTERNAL``)."""
    return cluster is not None and cluster.service.location != _MESH_EXTERNAL


def take_peer(
    headers: list[tuple[bytes, bytes]],
) -> tuple[list[tuple[bytes, bytes]], PeerMetadata | None]:
    """The response headers without the exchange pair, and what the destination said about
    itself (None when it said nothing: not a mesh workload, or an older one)."""
    metadata: bytes | None = None
    found = False
    for name, value in headers:
        if len(name) >= _PREFIX and name[:_PREFIX].lower() == PEER_METADATA_HEADER:
            found = True
            if len(name) == _PREFIX:  # x-envoy-peer-metadata, not its -id
                metadata = value
    if not found:
        return headers, None  # the common case without a peer: one pass, no copy
    kept = [h for h in headers if not _is_exchange(h[0])]
    return kept, peer_from_headers(metadata)


def _is_exchange(name: bytes) -> bool:
    return len(name) >= _PREFIX and name[:_PREFIX].lower() == PEER_METADATA_HEADER
