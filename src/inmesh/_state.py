"""The narrow state the outbound path reads, so that nothing below ``Mesh`` imports it.

The Mesh owns one ``MeshState``: the snapshot holder (swapped with one assignment), the
per-endpoint in-flight counts, the record hooks, the calling workload's identity, its
certificate (``tls``, swapped in place on rotation), its metadata exchange headers, its
tracing (``tracing``) and its resolved Telemetry API policy (``telemetry``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from .balancing import ActiveRequests
from .routing import ClientIdentity, Snapshot
from .telemetry import RecordHook
from .telemetry._policy import EMPTY_POLICY, TelemetryPolicy

if TYPE_CHECKING:
    from .security import TLSHolder
    from .telemetry import MeshTracer


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
        "client_tracing",
        "exchange",
        "full_records",
        "hooks",
        "identity",
        "network",
        "not_ready",
        "snapshot",
        "telemetry",
        "tls",
        "tracing",
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
        #: this workload's metadata exchange headers (Istio's x-envoy-peer-metadata-id and
        #: x-envoy-peer-metadata), computed once; empty: none sent
        self.exchange: tuple[tuple[bytes, bytes], ...] = ()
        #: records carry the connection fields only access logs and Telemetry expressions
        #: read (protocol, query, headers, addresses): set while one may read them
        self.full_records = False
        #: tracing (sampling, tags, provider), replaced whole when it changes; None: not
        #: configured (no spans; inbound x-request-id and trace headers still propagate)
        self.tracing: MeshTracer | None = None
        #: the same for client spans (the Telemetry API can set CLIENT and SERVER apart)
        self.client_tracing: MeshTracer | None = None
        #: the Telemetry API's policy for this workload (swapped with the configuration)
        self.telemetry: TelemetryPolicy = EMPTY_POLICY
        #: backends the pools connect through (None: httpcore's own, real sockets)
        self.network: NetworkBackends | None = None
