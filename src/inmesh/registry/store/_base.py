"""What the registry stores, and the contract every storage backend keeps.

Resources are keyed by (kind, namespace, name). Every change bumps one global revision;
a resource's ``resourceVersion`` is the revision of its last change (etcd's
``mod_revision``), so an apply that carries ``metadata.resourceVersion`` is checked against
it (optimistic concurrency, as Kubernetes does). Workload registrations live beside the
resources, each kept alive by a lease of ``ttl`` seconds that heartbeats renew.

Two backends implement :class:`Store`: SQLite (``_sqlite``, the embedded default)
and etcd v3 (``_etcd``, for several registry replicas).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from datetime import datetime, timezone
from typing import Any, Literal, Protocol

from .._errors import Conflict

__all__ = [
    "LOG_REVISIONS",
    "REGISTERED_ANNOTATION",
    "Action",
    "ChangeNotifier",
    "Changes",
    "ResourceKey",
    "State",
    "Store",
    "StoredResource",
    "Token",
    "WorkloadRecord",
    "Write",
    "WriteResult",
    "canonical_json",
    "check_expected",
    "iso_time",
]

#: Set on the WorkloadEntry a registration appears as (Istio marks auto-registered
#: WorkloadEntries with ``istio.io/autoRegistrationGroup`` in the same way).
REGISTERED_ANNOTATION = "inmesh.io/registered"

Action = Literal["created", "configured", "unchanged", "deleted"]


def canonical_json(body: Mapping[str, Any]) -> str:
    """One spelling per document, so "unchanged" is a string comparison."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def iso_time(ts: float) -> str:
    """Unix time -> Kubernetes' timestamp format (``2024-05-01T12:00:00Z``)."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _with_metadata(
    body: Mapping[str, Any],
    version: int,
    created: float,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    # Only the metadata is new; the rest is shared with the stored body, which nothing
    # modifies (documents are encoded, compared or parsed, never changed in place): a deep
    # copy of every document cost more than reading it.
    doc = dict(body)
    meta = dict(doc.get("metadata") or {})
    meta["resourceVersion"] = str(version)
    meta["creationTimestamp"] = iso_time(created)
    if annotations:
        meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
    doc["metadata"] = meta
    return doc


@dataclass(frozen=True, slots=True, order=True)
class ResourceKey:
    """Identifies a resource: kind, namespace and name (none of which contains ``/``)."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredResource:
    """A resource as stored: its document (without server-set metadata) and versions."""

    key: ResourceKey
    body: Mapping[str, Any]
    version: int
    created: float

    def document(self) -> dict[str, Any]:
        """The document with ``metadata.resourceVersion`` and ``creationTimestamp`` set."""
        return _with_metadata(self.body, self.version, self.created)


@dataclass(frozen=True, slots=True)
class Write:
    """One change in a transaction: a put (``body``) or a delete (``body is None``).

    ``expected_version`` makes the change conditional on the stored resourceVersion;
    ``missing_ok`` turns deleting an absent resource into a no-op instead of NotFound.
    """

    key: ResourceKey
    body: Mapping[str, Any] | None
    _: KW_ONLY
    expected_version: int | None = None
    missing_ok: bool = False


@dataclass(frozen=True, slots=True)
class WriteResult:
    key: ResourceKey
    action: Action
    version: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkloadRecord:
    """A live registration: the WorkloadEntry it appears as, and its lease.

    ``renewed`` is the time of the last heartbeat (or registration); ``expires`` when the
    lease runs out unless renewed. Both are estimates on etcd, which keeps the lease.
    """

    namespace: str
    name: str
    body: Mapping[str, Any]
    version: int
    created: float
    ttl: float
    renewed: float
    expires: float

    @property
    def key(self) -> ResourceKey:
        return ResourceKey("WorkloadEntry", self.namespace, self.name)

    def document(self) -> dict[str, Any]:
        """The WorkloadEntry document, annotated as a registration."""
        return _with_metadata(
            self.body, self.version, self.created, {REGISTERED_ANNOTATION: "true"}
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Token:
    """A credential's record (the secret itself is stored only as its SHA-256)."""

    id: str
    role: Literal["admin", "join"]
    created: float
    namespace: str | None = None
    service_account: str | None = None

    def to_record(self) -> dict[str, Any]:
        """How a store keeps it (with the digest of the secret as its key)."""
        return {
            "id": self.id,
            "role": self.role,
            "created": self.created,
            "namespace": self.namespace,
            "service_account": self.service_account,
        }

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Token:
        return cls(
            id=data["id"],
            role=data["role"],
            created=data["created"],
            namespace=data.get("namespace"),
            service_account=data.get("service_account"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role,
            "namespace": self.namespace,
            "serviceAccount": self.service_account,
            "created": iso_time(self.created),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class State:
    """Everything a snapshot is built from, read at one revision."""

    revision: int
    store_id: str
    resources: tuple[StoredResource, ...]
    workloads: tuple[WorkloadRecord, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Changes:
    """What changed after revision ``since`` up to ``revision``: the net change of each
    key in that range, as its document now (with server-set metadata) or None (deleted,
    or a registration that expired). A key changed twice appears once, as it is now."""

    since: int
    revision: int
    documents: Mapping[ResourceKey, Mapping[str, Any] | None]


#: Revisions a store's change log keeps by default: a watcher further behind than this
#: gets a full snapshot (as etcd answers a watch from a compacted revision).
LOG_REVISIONS = 1000


class Store(Protocol):
    """A registry backend. Every method is atomic; a failed call changes nothing."""

    @property
    def store_id(self) -> str:
        """Identifies this store's history: revisions compare only within one store id."""
        ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def revision(self) -> int:
        """The global revision: the latest change this store knows of."""
        ...

    async def commit(self, writes: Sequence[Write]) -> tuple[int, list[WriteResult]]:
        """Apply every write in one transaction (all or nothing); return the new revision.

        Raises Conflict (resourceVersion mismatch, or a WorkloadEntry name held by a live
        registration) or NotFound (deleting an absent resource without ``missing_ok``).
        """
        ...

    async def state(self) -> State:
        """Resources and live workloads, consistent at one revision."""
        ...

    async def changes(self, since: int) -> Changes | None:
        """The change log: what changed after revision ``since``, up to the latest
        revision this store's log has (consistent at that revision).

        None when the log cannot say: ``since`` is older than the log keeps (compacted,
        or before this process started following etcd) or newer than the store (another
        store's revision). The caller then reads :meth:`state` instead.
        """
        ...

    async def register(
        self, namespace: str, name: str, body: Mapping[str, Any], ttl: float
    ) -> WorkloadRecord:
        """Create or replace a registration with a fresh lease of ``ttl`` seconds.

        Raises Conflict when a configured WorkloadEntry already has that name.
        """
        ...

    async def heartbeat(self, namespace: str, name: str) -> WorkloadRecord:
        """Renew a registration's lease; NotFound once it has expired or never existed."""
        ...

    async def deregister(self, namespace: str, name: str) -> int:
        """Remove a registration at once; returns the new revision (NotFound if absent)."""
        ...

    async def workloads(self, namespace: str | None = None) -> list[WorkloadRecord]: ...

    async def expire(self) -> int:
        """Remove registrations whose lease ran out; returns how many (0 on etcd, which
        expires leases itself)."""
        ...

    async def wait_for_change(self, after: int, timeout: float) -> int:
        """Wait until the revision passes ``after`` (or ``timeout`` seconds); return it."""
        ...

    async def put_token(self, digest: str, token: Token) -> None: ...

    async def find_token(self, digest: str) -> Token | None: ...

    async def list_tokens(self) -> list[Token]: ...

    async def delete_token(self, token_id: str) -> bool: ...


class ChangeNotifier:
    """Wakes every waiter when the revision moves: a fresh event per generation, so a
    waiter never misses a change that happens between its check and its wait."""

    def __init__(self, revision: int = 0) -> None:
        self.revision = revision
        self._event = asyncio.Event()

    def advance(self, revision: int) -> None:
        if revision > self.revision:
            self.revision = revision
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, after: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.revision <= after:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            event = self._event
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except asyncio.TimeoutError:
                break
        return self.revision


def check_expected(write: Write, stored: int | None) -> None:
    """Kubernetes' optimistic concurrency: a resourceVersion given must be the stored one."""
    if write.expected_version is None:
        return
    if stored is None:
        raise Conflict(
            f"{write.key}: resourceVersion {write.expected_version} given but the "
            "resource does not exist (it was deleted, or never created)"
        )
    if stored != write.expected_version:
        raise Conflict(
            f"{write.key}: the object has been modified; resourceVersion is "
            f"{stored}, not {write.expected_version}: get it again and retry"
        )
