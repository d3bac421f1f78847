"""The narrow state the outbound path reads, so that nothing below ``Mesh`` imports it.

The Mesh owns one ``MeshState``: the snapshot holder (swapped with one assignment), the
per-endpoint in-flight counts, the record hooks, the calling workload's identity and its
certificate (``tls``, swapped in place on rotation).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from .balancing import ActiveRequests
from .routing import ClientIdentity, Snapshot
from .telemetry import RecordHook

if TYPE_CHECKING:
    from .security import TLSHolder


class NetworkBackends(NamedTuple):
    """httpcore network backends the connection pools connect through instead of the
    sockets (``inmesh.testing`` serves workloads in memory this way): one for the async
    shell (an ``httpcore.AsyncNetworkBackend``) and one for the sync shell (an
    ``httpcore.NetworkBackend``). Pools, timeouts, retries and outlier detection above
    them are unchanged."""

    async_backend: Any
    sync_backend: Any


class MeshState:
    """What a request needs from its workload; ``not_ready`` says why none may be sent yet
    (a registry-backed Mesh before ``start``), or is None."""

    __slots__ = (
        "active",
        "hooks",
        "identity",
        "network",
        "not_ready",
        "snapshot",
        "tls",
        "version",
        "workload",
    )

    def __init__(
        self, *, snapshot: Snapshot, identity: ClientIdentity, active: ActiveRequests
    ) -> None:
        self.snapshot = snapshot
        self.identity = identity
        self.version = identity.labels.get("version", "")
        #: the workload's name in telemetry (Istio: its Deployment's, e.g. ``reviews-v1``)
        self.workload = f"{identity.service}-{self.version}" if self.version else identity.service
        self.active = active
        self.hooks: tuple[RecordHook, ...] = ()
        self.not_ready: str | None = None
        #: the workload certificate (mesh mTLS), or None: this workload has no identity
        self.tls: TLSHolder | None = None
        #: backends the pools connect through (None: httpcore's own, real sockets)
        self.network: NetworkBackends | None = None
