"""The embedded store: one SQLite database in WAL mode in the registry's data directory.

Every commit is durable before it returns (``synchronous=FULL``), so a restart loses
nothing; leases are absolute wall-clock deadlines, so registrations survive a restart of
the registry and expire on time afterwards. SQLite calls run on one dedicated thread (the
connection never changes threads) so a slow fsync never stalls the event loop. One
registry process per database: for several replicas use etcd.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from .._errors import Conflict, NotFound
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
from ._sqlite_sql import (
    SCHEMA,
    existing_rows,
    get_meta,
    is_live,
    log_changes,
    read_resources,
    resource_row,
    set_meta,
    transaction,
    workload_row,
    write_rows,
)

__all__ = ["SqliteStore"]

T = TypeVar("T")


class SqliteStore:
    """:class:`~inmesh.registry.store.Store` on SQLite. ``clock`` (unix seconds) is
    injectable so tests can expire leases without sleeping.

    The change log is a table of (revision, key) rows written in the same transaction as
    the change, so it survives restarts; it keeps the last ``log_revisions`` revisions.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        log_revisions: int = LOG_REVISIONS,
    ) -> None:
        self.path = Path(path)
        self.clock = clock
        self.log_revisions = log_revisions
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inmesh-sqlite")
        self._db: sqlite3.Connection | None = None
        self._notifier = ChangeNotifier()
        self._store_id = ""
        #: The resources of the last ``state()``, by key: a row whose version is the same
        #: is not read and JSON-decoded again (only the store's one thread touches it).
        #: what was last read, by (kind, namespace, name)
        self._resources: dict[tuple[str, str, str], StoredResource] = {}

    @property
    def store_id(self) -> str:
        return self._store_id

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            if self._db is None:
                raise RuntimeError("store is not open")
            return fn(self._db)

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _changed(self, revision: int) -> int:
        self._notifier.advance(revision)
        return revision

    # -- lifecycle ----------------------------------------------------------------------

    async def open(self) -> None:
        def connect() -> tuple[str, int]:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA busy_timeout=5000")
            db.executescript(SCHEMA)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('revision', '0')")
            db.execute("INSERT OR IGNORE INTO meta VALUES ('store_id', ?)", (uuid.uuid4().hex,))
            # A database from before the change log has none for its past: it starts now.
            db.execute(
                "INSERT OR IGNORE INTO meta SELECT 'log_start', value FROM meta "
                "WHERE key='revision'"
            )
            self._db = db
            return get_meta(db, "store_id"), int(get_meta(db, "revision"))

        self._store_id, revision = await asyncio.get_running_loop().run_in_executor(
            self._executor, connect
        )
        self._notifier.revision = revision

    async def close(self) -> None:
        def disconnect() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(self._executor, disconnect)
        self._executor.shutdown(wait=True)

    async def revision(self) -> int:
        return self._notifier.revision

    async def wait_for_change(self, after: int, timeout: float) -> int:
        return await self._notifier.wait(after, timeout)

    # -- resources ----------------------------------------------------------------------

    async def commit(self, writes: Sequence[Write]) -> tuple[int, list[WriteResult]]:
        now = self.clock()

        def txn(db: sqlite3.Connection) -> tuple[int, list[WriteResult]]:
            with transaction(db):
                revision = int(get_meta(db, "revision"))
                next_revision = revision + 1
                rows = existing_rows(db, [w.key for w in writes])
                before = set(rows)  # the keys that exist now
                written: set[ResourceKey] = set()
                results: list[WriteResult] = []
                for w in writes:
                    k = w.key
                    row = rows.get(k)
                    check_expected(w, None if row is None else row[1])
                    if w.body is None:
                        if row is None:
                            if not w.missing_ok:
                                raise NotFound(f"{k} not found")
                            continue
                        rows[k] = None
                        written.add(k)
                        results.append(WriteResult(k, "deleted", next_revision))
                        continue
                    body = canonical_json(w.body)
                    if row is not None and row[0] == body:
                        results.append(WriteResult(k, "unchanged", row[1]))
                        continue
                    if k.kind == "WorkloadEntry" and is_live(db, k.namespace, k.name, now):
                        raise Conflict(
                            f"{k} is a live workload registration; it leaves "
                            "by deregistration or lease expiry"
                        )
                    rows[k] = (body, next_revision)
                    written.add(k)
                    results.append(
                        WriteResult(k, "created" if row is None else "configured", next_revision)
                    )
                write_rows(db, {k: rows.get(k) for k in written}, before, now)
                changed = [r.key for r in results if r.action != "unchanged"]
                if changed:
                    set_meta(db, "revision", str(next_revision))
                    log_changes(db, next_revision, changed, self.log_revisions)
                    revision = next_revision
                return revision, results

        revision, results = await self._run(txn)
        return self._changed(revision), results

    async def state(self) -> State:
        now = self.clock()

        def read(db: sqlite3.Connection) -> State:
            with transaction(db, write=False):
                resources = read_resources(db, self._resources)
                self._resources = {(r.key.kind, r.key.namespace, r.key.name): r for r in resources}
                wls = db.execute(
                    "SELECT * FROM workloads WHERE expires > ? ORDER BY namespace, name", (now,)
                )
                return State(
                    revision=int(get_meta(db, "revision")),
                    store_id=self._store_id,
                    resources=resources,
                    workloads=tuple(workload_row(r) for r in wls.fetchall()),
                )

        return await self._run(read)

    async def changes(self, since: int) -> Changes | None:
        now = self.clock()

        def read(db: sqlite3.Connection) -> Changes | None:
            with transaction(db, write=False):
                revision = int(get_meta(db, "revision"))
                if since < int(get_meta(db, "log_start")) or since > revision:
                    return None
                rows = db.execute(
                    "SELECT DISTINCT kind, namespace, name FROM changelog WHERE revision > ?",
                    (since,),
                ).fetchall()
                # the rows of those keys that exist, in one query
                found = {
                    ResourceKey(row["kind"], row["namespace"], row["name"]): row
                    for row in db.execute(
                        "SELECT r.* FROM resources r JOIN (SELECT DISTINCT kind, namespace, "
                        "name FROM changelog WHERE revision > ?) c ON r.kind = c.kind AND "
                        "r.namespace = c.namespace AND r.name = c.name",
                        (since,),
                    )
                }
                documents: dict[ResourceKey, Mapping[str, Any] | None] = {}
                for kind, namespace, name in rows:
                    key = ResourceKey(kind, namespace, name)
                    row = found.get(key)
                    if row is not None:
                        stored = self._resources.get((kind, namespace, name))
                        if stored is None or stored.version != row["version"]:
                            stored = resource_row(row)
                            # the next state() need not read it
                            self._resources[(kind, namespace, name)] = stored
                        documents[key] = stored.document()
                        continue
                    self._resources.pop((kind, namespace, name), None)
                    live = None
                    if kind == "WorkloadEntry":
                        live = db.execute(
                            "SELECT * FROM workloads WHERE namespace=? AND name=? AND expires > ?",
                            (namespace, name, now),
                        ).fetchone()
                    documents[key] = None if live is None else workload_row(live).document()
                return Changes(since=since, revision=revision, documents=documents)

        return await self._run(read)

    # -- workloads ----------------------------------------------------------------------

    async def register(
        self, namespace: str, name: str, body: Mapping[str, Any], ttl: float
    ) -> WorkloadRecord:
        now = self.clock()

        def txn(db: sqlite3.Connection) -> WorkloadRecord:
            with transaction(db):
                taken = db.execute(
                    "SELECT 1 FROM resources WHERE kind='WorkloadEntry' AND namespace=? AND name=?",
                    (namespace, name),
                ).fetchone()
                if taken:
                    raise Conflict(
                        f"WorkloadEntry {namespace}/{name} is configured; a "
                        "registration needs a name of its own"
                    )
                revision = int(get_meta(db, "revision")) + 1
                old = db.execute(
                    "SELECT created, expires FROM workloads WHERE namespace=? AND name=?",
                    (namespace, name),
                ).fetchone()
                created = old["created"] if old is not None and old["expires"] > now else now
                db.execute(
                    "INSERT OR REPLACE INTO workloads VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (namespace, name, canonical_json(body), revision, created, ttl, now, now + ttl),
                )
                set_meta(db, "revision", str(revision))
                key = ResourceKey("WorkloadEntry", namespace, name)
                log_changes(db, revision, [key], self.log_revisions)
                return WorkloadRecord(
                    namespace=namespace,
                    name=name,
                    body=body,
                    version=revision,
                    created=created,
                    ttl=ttl,
                    renewed=now,
                    expires=now + ttl,
                )

        workload = await self._run(txn)
        self._changed(workload.version)
        return workload

    async def heartbeat(self, namespace: str, name: str) -> WorkloadRecord:
        now = self.clock()

        def txn(db: sqlite3.Connection) -> WorkloadRecord:
            with transaction(db):
                row = db.execute(
                    "SELECT * FROM workloads WHERE namespace=? AND name=? AND expires > ?",
                    (namespace, name, now),
                ).fetchone()
                if row is None:
                    raise NotFound(
                        f"no live registration {namespace}/{name}: it expired or "
                        "was never made; register again"
                    )
                db.execute(
                    "UPDATE workloads SET renewed=?, expires=? WHERE namespace=? AND name=?",
                    (now, now + row["ttl"], namespace, name),
                )
                row = db.execute(
                    "SELECT * FROM workloads WHERE namespace=? AND name=?", (namespace, name)
                ).fetchone()
                return workload_row(row)

        # A renewal is not a change anyone sees: the revision stays.
        return await self._run(txn)

    async def deregister(self, namespace: str, name: str) -> int:
        now = self.clock()

        def txn(db: sqlite3.Connection) -> int:
            with transaction(db):
                row = db.execute(
                    "SELECT expires FROM workloads WHERE namespace=? AND name=?", (namespace, name)
                ).fetchone()
                if row is None or row["expires"] <= now:
                    raise NotFound(f"no live registration {namespace}/{name}")
                db.execute("DELETE FROM workloads WHERE namespace=? AND name=?", (namespace, name))
                revision = int(get_meta(db, "revision")) + 1
                set_meta(db, "revision", str(revision))
                key = ResourceKey("WorkloadEntry", namespace, name)
                log_changes(db, revision, [key], self.log_revisions)
                return revision

        return self._changed(await self._run(txn))

    async def workloads(self, namespace: str | None = None) -> list[WorkloadRecord]:
        now = self.clock()

        def read(db: sqlite3.Connection) -> list[WorkloadRecord]:
            rows = db.execute(
                "SELECT * FROM workloads WHERE expires > ? AND "
                "(?2 IS NULL OR namespace=?2) ORDER BY namespace, name",
                (now, namespace),
            ).fetchall()
            return [workload_row(r) for r in rows]

        return await self._run(read)

    async def expire(self) -> int:
        now = self.clock()

        def txn(db: sqlite3.Connection) -> tuple[int, int]:
            with transaction(db):
                expired = db.execute(
                    "SELECT namespace, name FROM workloads WHERE expires <= ?", (now,)
                ).fetchall()
                db.execute("DELETE FROM workloads WHERE expires <= ?", (now,))
                revision = int(get_meta(db, "revision"))
                if expired:
                    revision += 1
                    set_meta(db, "revision", str(revision))
                    keys = [ResourceKey("WorkloadEntry", ns, name) for ns, name in expired]
                    log_changes(db, revision, keys, self.log_revisions)
                return len(expired), revision

        gone, revision = await self._run(txn)
        if gone:
            self._changed(revision)
        return gone

    # -- tokens -------------------------------------------------------------------------

    async def put_token(self, digest: str, token: Token) -> None:
        record = json.dumps(token.to_record())
        await self._run(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO tokens VALUES (?, ?, ?)", (digest, token.id, record)
            )
        )

    async def find_token(self, digest: str) -> Token | None:
        row = await self._run(
            lambda db: db.execute("SELECT record FROM tokens WHERE digest=?", (digest,)).fetchone()
        )
        return None if row is None else Token.from_record(json.loads(row["record"]))

    async def list_tokens(self) -> list[Token]:
        rows = await self._run(
            lambda db: db.execute("SELECT record FROM tokens ORDER BY id").fetchall()
        )
        return [Token.from_record(json.loads(r["record"])) for r in rows]

    async def delete_token(self, token_id: str) -> bool:
        count = await self._run(
            lambda db: db.execute("DELETE FROM tokens WHERE id=?", (token_id,)).rowcount
        )
        return bool(count)
