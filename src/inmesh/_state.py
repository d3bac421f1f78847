"""The narrow state the outbound path reads, so that nothing below ``Mesh`` imports it.

The Mesh owns one ``MeshState``: the snapshot holder (swapped with one assignment), the
per-endpoint in-flight counts, the record hooks and the calling workload's identity.
"""

from __future__ import annotations

from .balancing import ActiveRequests
from .routing import ClientIdentity, Snapshot
from .telemetry import RecordHook


class MeshState:
    """What a request needs from its workload; ``not_ready`` says why none may be sent yet
    (a registry-backed Mesh before ``start``), or is None."""

    __slots__ = ("active", "hooks", "identity", "not_ready", "snapshot", "version")

    def __init__(
        self, *, snapshot: Snapshot, identity: ClientIdentity, active: ActiveRequests
    ) -> None:
        self.snapshot = snapshot
        self.identity = identity
        self.version = identity.labels.get("version", "")
        self.active = active
        self.hooks: tuple[RecordHook, ...] = ()
        self.not_ready: str | None = None
