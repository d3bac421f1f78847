"""The replicated store: etcd v3, so several registry processes serve one state.

Layout under ``prefix`` (``/inmesh`` by default, so meshes can share an etcd)::

    {prefix}/state/r/{kind}/{namespace}/{name}   a resource  {"body": ..., "created": ts}
    {prefix}/state/w/{namespace}/{name}          a registration, attached to its lease
    {prefix}/tokens/{sha256}                     a token record

etcd's revision is the global revision and a key's ``mod_revision`` its resourceVersion.
An apply is one etcd transaction whose compares pin every key it read (``mod_revision``,
or ``create_revision == 0`` for an absent key), so it is all or nothing and races with a
concurrent writer are retried. Registration TTLs are etcd leases: etcd itself deletes the
key when a process stops heartbeating. Every replica watches ``{prefix}/state/``, so a
change made through any replica wakes the push loop of all of them, and each reads the
state *at the revision of the change* so replicas hand out identical snapshots.

The change log is etcd's own: the events that watch delivers (each with its key, value
and ``mod_revision``; a DELETE for a removed key or an expired lease) are kept in memory,
the last ``log_entries`` of them, from the revision this replica opened at. A compaction
that cuts into the watch, or a watcher from before this replica started, gets a full
snapshot instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .._errors import Conflict, NotFound, StoreError
from ._base import (
    LOG_REVISIONS,
    ChangeNotifier,
    Changes,
    ResourceKey,
    State,
    StoredResource,
    Token,
    WorkloadRecord,
    Write,
    WriteResult,
    canonical_json,
    check_expected,
)
from ._etcd_client import EtcdClient, Json, b64, prefix_end, unb64
from ._etcd_log import EventLog

__all__ = ["EtcdStore"]

log = logging.getLogger("inmesh.registry")

_ATTEMPTS = 8  # optimistic transactions retried on a concurrent change before giving up
#: How long a change log read waits for the watch to deliver a change this replica just
#: committed before it gives up and the caller reads the whole state instead.
_LOG_CATCH_UP = 0.5


def _value(kv: Json) -> dict[str, Any]:
    return json.loads(unb64(kv.get("value", ""))) if kv.get("value") else {}


class EtcdStore:
    """:class:`~inmesh.registry.store.Store` on etcd v3 (JSON gateway over HTTP)."""

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        prefix: str = "/inmesh",
        log_entries: int = 10 * LOG_REVISIONS,
    ) -> None:
        self.etcd = EtcdClient(endpoints)
        self.prefix = prefix.rstrip("/")
        self.log_entries = log_entries
        self._state = f"{self.prefix}/state/"
        self._notifier = ChangeNotifier()
        self._store_id = ""
        self._watcher: asyncio.Task[None] | None = None
        self._log = EventLog(log_entries)

    @property
    def store_id(self) -> str:
        return self._store_id

    def _rkey(self, key: ResourceKey) -> str:
        return f"{self._state}r/{key.kind}/{key.namespace}/{key.name}"

    def _wkey(self, namespace: str, name: str) -> str:
        return f"{self._state}w/{namespace}/{name}"

    # -- lifecycle ----------------------------------------------------------------------

    async def open(self) -> None:
        header, _ = await self.etcd.range(self._state, prefix_end(self._state))
        self._store_id = f"etcd-{header['cluster_id']}{self.prefix}"
        self._notifier.revision = int(header["revision"])
        self._log.restart(int(header["revision"]))
        self._watcher = asyncio.create_task(self._watch(), name="inmesh-etcd-watch")

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await self.etcd.close()

    async def _watch(self) -> None:
        """Follow every change under the state prefix, resuming where it broke off."""
        start = self._notifier.revision + 1
        failures = 0
        while True:
            try:
                async for result in self.etcd.watch(self._state, start):
                    failures = 0
                    if int(result.get("compact_revision", 0)):
                        # History we needed is gone: resume from now and force a rebuild.
                        header, _ = await self.etcd.range(self._state, prefix_end(self._state))
                        start = int(header["revision"]) + 1
                        self._log.restart(start - 1)
                        self._notifier.advance(start - 1)
                        break
                    events = result.get("events") or ()
                    if events:
                        revision = max(int(e["kv"]["mod_revision"]) for e in events)
                        start = revision + 1
                        self._log.record(events, revision, self._key_of)
                        self._notifier.advance(revision)
            except StoreError as exc:
                failures += 1
                log.warning("etcd watch broke (%s); resuming from revision %d", exc, start)
            await asyncio.sleep(min(5.0, 0.1 * 2**failures) * random.uniform(0.5, 1.0))

    # -- the change log ------------------------------------------------------------------

    def _key_of(self, raw_key: str) -> ResourceKey | None:
        """A state key (base64, as etcd's JSON sends it) -> the resource it holds."""
        rest = unb64(raw_key).decode()[len(self._state) :]
        if rest.startswith("r/"):
            kind, namespace, name = rest[2:].split("/", 2)
            return ResourceKey(kind, namespace, name)
        if rest.startswith("w/"):
            namespace, name = rest[2:].split("/", 1)
            return ResourceKey("WorkloadEntry", namespace, name)
        return None

    async def changes(self, since: int) -> Changes | None:
        target = self._notifier.revision
        if self._log.revision < target:  # a commit of ours, not yet back from the watch
            await self._log.progress.wait(target - 1, _LOG_CATCH_UP)
        revision = self._log.revision
        latest = self._log.since(since) if revision >= target else None
        if latest is None:
            return None
        now = time.time()
        rpre = f"{self._state}r/".encode()
        documents: dict[ResourceKey, Mapping[str, Any] | None] = {}
        for key, kv in latest.items():
            if kv is None:
                documents[key] = None
            elif unb64(kv["key"]).startswith(rpre):
                documents[key] = self._resource(kv).document()
            else:
                documents[key] = self._workload(kv, now).document()
        return Changes(since=since, revision=revision, documents=documents)

    async def revision(self) -> int:
        return self._notifier.revision

    async def wait_for_change(self, after: int, timeout: float) -> int:
        return await self._notifier.wait(after, timeout)

    # -- resources ----------------------------------------------------------------------

    async def _read_many(self, keys: Sequence[str]) -> tuple[int, list[Json | None]]:
        """Read several keys at one revision (a compare-free transaction of ranges)."""
        ops = [{"request_range": {"key": b64(k)}} for k in keys]
        data = await self.etcd.call("/v3/kv/txn", {"compare": [], "success": ops})
        header, responses = data["header"], data.get("responses", ())
        out: list[Json | None] = []
        for r in responses:
            kvs = r.get("response_range", {}).get("kvs") or []
            out.append(kvs[0] if kvs else None)
        return int(header["revision"]), out

    async def commit(self, writes: Sequence[Write]) -> tuple[int, list[WriteResult]]:
        now = time.time()
        for _ in range(_ATTEMPTS):
            keys = [self._rkey(w.key) for w in writes]
            # A WorkloadEntry put must not shadow a live registration of the same name.
            guarded = [w for w in writes if w.body is not None and w.key.kind == "WorkloadEntry"]
            guards = [self._wkey(w.key.namespace, w.key.name) for w in guarded]
            revision, current = await self._read_many(keys + guards)
            for w, kv in zip(guarded, current[len(keys) :], strict=True):
                if kv is not None:
                    raise Conflict(
                        f"{w.key} is a live workload registration; it leaves by "
                        "deregistration or lease expiry"
                    )
            compares: list[Json] = []
            for key, kv in zip(keys + guards, current, strict=True):
                if kv is None:
                    compares.append(
                        {
                            "key": b64(key),
                            "target": "CREATE",
                            "result": "EQUAL",
                            "create_revision": "0",
                        }
                    )
                else:
                    compares.append(
                        {
                            "key": b64(key),
                            "target": "MOD",
                            "result": "EQUAL",
                            "mod_revision": kv["mod_revision"],
                        }
                    )
            ops: list[Json] = []
            results: list[WriteResult] = []
            for w, key, kv in zip(writes, keys, current, strict=True):
                stored = None if kv is None else int(kv["mod_revision"])
                check_expected(w, stored)
                if w.body is None:
                    if kv is None:
                        if not w.missing_ok:
                            raise NotFound(f"{w.key} not found")
                        continue
                    ops.append({"request_delete_range": {"key": b64(key)}})
                    results.append(WriteResult(w.key, "deleted", 0))
                    continue
                old = _value(kv) if kv is not None else None
                if (
                    kv is not None
                    and old is not None
                    and canonical_json(old["body"]) == canonical_json(w.body)
                ):
                    results.append(WriteResult(w.key, "unchanged", int(kv["mod_revision"])))
                    continue
                value = {"body": w.body, "created": old["created"] if old else now}
                ops.append({"request_put": {"key": b64(key), "value": b64(canonical_json(value))}})
                results.append(WriteResult(w.key, "configured" if old else "created", 0))
            if not ops:
                return revision, results
            ok, header = await self.etcd.txn(compares, ops)
            if ok:
                new = int(header["revision"])
                self._notifier.advance(new)
                return new, [
                    r if r.action == "unchanged" else WriteResult(r.key, r.action, new)
                    for r in results
                ]
        raise Conflict("the resources kept changing under this apply; try again")

    def _resource(self, kv: Json) -> StoredResource:
        _, _, rest = unb64(kv["key"]).decode().partition(f"{self._state}r/")
        kind, namespace, name = rest.split("/", 2)
        value = _value(kv)
        return StoredResource(
            key=ResourceKey(kind, namespace, name),
            body=value["body"],
            version=int(kv["mod_revision"]),
            created=float(value["created"]),
        )

    def _workload(self, kv: Json, now: float) -> WorkloadRecord:
        _, _, rest = unb64(kv["key"]).decode().partition(f"{self._state}w/")
        namespace, name = rest.split("/", 1)
        v = _value(kv)
        ttl = float(v["ttl"])
        return WorkloadRecord(
            namespace=namespace,
            name=name,
            body=v["body"],
            version=int(kv["mod_revision"]),
            created=float(v["created"]),
            ttl=ttl,
            renewed=now,
            expires=now + ttl,
        )

    async def state(self) -> State:
        at = self._notifier.revision
        try:
            header, kvs = await self.etcd.range(self._state, prefix_end(self._state), revision=at)
        except StoreError:  # compacted or from the future: read the latest instead
            header, kvs = await self.etcd.range(self._state, prefix_end(self._state))
            at = int(header["revision"])
        now = time.time()
        rpre = f"{self._state}r/".encode()
        resources = [self._resource(kv) for kv in kvs if unb64(kv["key"]).startswith(rpre)]
        workloads = [self._workload(kv, now) for kv in kvs if not unb64(kv["key"]).startswith(rpre)]
        return State(
            revision=at,
            store_id=self._store_id,
            resources=tuple(sorted(resources, key=lambda r: r.key)),
            workloads=tuple(workloads),
        )

    # -- workloads ----------------------------------------------------------------------

    async def register(
        self, namespace: str, name: str, body: Mapping[str, Any], ttl: float
    ) -> WorkloadRecord:
        lease, granted = await self.etcd.grant(ttl)
        key = self._wkey(namespace, name)
        _, kvs = await self.etcd.range(key)
        old = _value(kvs[0]) if kvs else None
        now = time.time()
        created = float(old["created"]) if old else now
        value = {"body": body, "created": created, "ttl": granted, "lease": lease}
        guard = self._rkey(ResourceKey("WorkloadEntry", namespace, name))
        ok, header = await self.etcd.txn(
            [{"key": b64(guard), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}],
            [
                {
                    "request_put": {
                        "key": b64(key),
                        "value": b64(canonical_json(value)),
                        "lease": str(lease),
                    }
                }
            ],
        )
        if not ok:
            await self.etcd.revoke(lease)
            raise Conflict(
                f"WorkloadEntry {namespace}/{name} is configured; a registration "
                "needs a name of its own"
            )
        if old and int(old["lease"]) != lease:
            await self.etcd.revoke(int(old["lease"]))  # the key now hangs on the new lease
        revision = int(header["revision"])
        self._notifier.advance(revision)
        return WorkloadRecord(
            namespace=namespace,
            name=name,
            body=body,
            version=revision,
            created=created,
            ttl=granted,
            renewed=now,
            expires=now + granted,
        )

    async def heartbeat(self, namespace: str, name: str) -> WorkloadRecord:
        key = self._wkey(namespace, name)
        _, kvs = await self.etcd.range(key)
        if not kvs:
            raise NotFound(
                f"no live registration {namespace}/{name}: it expired or was "
                "never made; register again"
            )
        value = _value(kvs[0])
        ttl = await self.etcd.keepalive(int(value["lease"]))
        if ttl <= 0:
            raise NotFound(f"registration {namespace}/{name} expired; register again")
        now = time.time()
        return WorkloadRecord(
            namespace=namespace,
            name=name,
            body=value["body"],
            version=int(kvs[0]["mod_revision"]),
            created=float(value["created"]),
            ttl=float(value["ttl"]),
            renewed=now,
            expires=now + ttl,
        )

    async def deregister(self, namespace: str, name: str) -> int:
        key = self._wkey(namespace, name)
        _, kvs = await self.etcd.range(key)
        if not kvs:
            raise NotFound(f"no live registration {namespace}/{name}")
        data = await self.etcd.call("/v3/kv/deleterange", {"key": b64(key)})
        await self.etcd.revoke(int(_value(kvs[0])["lease"]))
        revision = int(data["header"]["revision"])
        self._notifier.advance(revision)
        return revision

    async def workloads(self, namespace: str | None = None) -> list[WorkloadRecord]:
        prefix = f"{self._state}w/" + (f"{namespace}/" if namespace else "")
        _, kvs = await self.etcd.range(prefix, prefix_end(prefix))
        out: list[WorkloadRecord] = []
        for kv in kvs:
            w = self._workload(kv, time.time())
            remaining, granted = await self.etcd.time_to_live(int(_value(kv)["lease"]))
            now = time.time()
            if remaining > 0:
                out.append(
                    WorkloadRecord(
                        namespace=w.namespace,
                        name=w.name,
                        body=w.body,
                        version=w.version,
                        created=w.created,
                        ttl=w.ttl,
                        renewed=now + remaining - granted,
                        expires=now + remaining,
                    )
                )
        return out

    async def expire(self) -> int:
        return 0  # etcd deletes a key when its lease runs out

    # -- tokens -------------------------------------------------------------------------

    async def put_token(self, digest: str, token: Token) -> None:
        await self.etcd.put(f"{self.prefix}/tokens/{digest}", json.dumps(token.to_record()))

    async def find_token(self, digest: str) -> Token | None:
        _, kvs = await self.etcd.range(f"{self.prefix}/tokens/{digest}")
        return Token.from_record(_value(kvs[0])) if kvs else None

    async def list_tokens(self) -> list[Token]:
        prefix = f"{self.prefix}/tokens/"
        _, kvs = await self.etcd.range(prefix, prefix_end(prefix))
        return sorted((Token.from_record(_value(kv)) for kv in kvs), key=lambda t: t.id)

    async def delete_token(self, token_id: str) -> bool:
        prefix = f"{self.prefix}/tokens/"
        _, kvs = await self.etcd.range(prefix, prefix_end(prefix))
        for kv in kvs:
            if _value(kv).get("id") == token_id:
                return await self.etcd.delete(unb64(kv["key"]).decode()) > 0
        return False
