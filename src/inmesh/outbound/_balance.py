"""The balance tier: which endpoint of a cluster an attempt goes to.

The cluster's balancer (DestinationRule ``loadBalancer``) picks over the endpoints that
are neither ejected by outlier detection nor, with ``retryIgnorePreviousHosts``, already
tried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..balancing import Endpoint

if TYPE_CHECKING:
    from .._cluster_state import ClusterState
    from ..resilience import RetryState
    from ..routing import Cluster


def pick(
    cluster: Cluster,
    state: ClusterState | None,
    hash_key: int | None,
    retry: RetryState,
    now: float,
    *,
    retrying: bool,
) -> Endpoint | None:
    """The endpoint for the next attempt, or None: no healthy upstream (503 UH).
    ``state``: ``cluster.state`` when the caller has read it (a property), else None."""
    outlier = (state if state is not None else cluster.state).outlier
    ejected = outlier.ejected_keys(now) if outlier is not None else frozenset()
    balancer = cluster.balancer
    ep = balancer.pick(hash_key, retry.excluding(ejected))
    if ep is None and retrying:
        # Every untried host is gone: Envoy's host selection retries then take a previously
        # tried one rather than fail.
        ep = balancer.pick(hash_key, ejected)
    return ep


def original_destination(raw_host: bytes, port: int) -> Endpoint:
    """The endpoint of a request sent as it is (PassthroughCluster, ServiceEntry
    ``resolution: NONE``): the URL's host as sent on the wire (IDNA-encoded)."""
    return Endpoint(raw_host.decode("ascii"), port)
