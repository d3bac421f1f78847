"""SQLite plumbing for ``_sqlite``: the schema, row decoding, transactions, and the
batched reads and writes of resource rows."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence

from ._base import ResourceKey, StoredResource, WorkloadRecord

__all__ = [
    "SCHEMA",
    "existing_rows",
    "get_meta",
    "is_live",
    "log_changes",
    "read_resources",
    "resource_row",
    "set_meta",
    "transaction",
    "workload_row",
    "write_rows",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    body TEXT NOT NULL, version INTEGER NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (kind, namespace, name));
CREATE TABLE IF NOT EXISTS workloads (
    namespace TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL,
    version INTEGER NOT NULL, created REAL NOT NULL, ttl REAL NOT NULL,
    renewed REAL NOT NULL, expires REAL NOT NULL,
    PRIMARY KEY (namespace, name));
CREATE INDEX IF NOT EXISTS workloads_expires ON workloads (expires);
CREATE TABLE IF NOT EXISTS tokens (
    digest TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS changelog (
    revision INTEGER NOT NULL, kind TEXT NOT NULL, namespace TEXT NOT NULL,
    name TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS changelog_revision ON changelog (revision);
"""


def log_changes(
    db: sqlite3.Connection, revision: int, keys: Iterable[ResourceKey], keep: int
) -> None:
    """Record that ``keys`` changed at ``revision``, and compact: the log keeps the last
    ``keep`` revisions, and ``meta.log_start`` says from which revision it is complete."""
    db.executemany(
        "INSERT INTO changelog VALUES (?, ?, ?, ?)",
        [(revision, k.kind, k.namespace, k.name) for k in keys],
    )
    cutoff = revision - keep
    if cutoff > int(get_meta(db, "log_start")):
        db.execute("DELETE FROM changelog WHERE revision <= ?", (cutoff,))
        set_meta(db, "log_start", str(cutoff))


def resource_row(row: sqlite3.Row) -> StoredResource:
    return StoredResource(
        key=ResourceKey(row["kind"], row["namespace"], row["name"]),
        body=json.loads(row["body"]),
        version=row["version"],
        created=row["created"],
    )


def workload_row(row: sqlite3.Row) -> WorkloadRecord:
    return WorkloadRecord(
        namespace=row["namespace"],
        name=row["name"],
        body=json.loads(row["body"]),
        version=row["version"],
        created=row["created"],
        ttl=row["ttl"],
        renewed=row["renewed"],
        expires=row["expires"],
    )


def get_meta(db: sqlite3.Connection, key: str) -> str:
    row = db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    return str(row[0])


def set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
    db.execute("UPDATE meta SET value=? WHERE key=?", (value, key))


def is_live(db: sqlite3.Connection, namespace: str, name: str, now: float) -> bool:
    return (
        db.execute(
            "SELECT 1 FROM workloads WHERE namespace=? AND name=? AND expires > ?",
            (namespace, name, now),
        ).fetchone()
        is not None
    )


class transaction:
    """``BEGIN IMMEDIATE`` .. ``COMMIT`` (or ``ROLLBACK`` on any exception)."""

    def __init__(self, db: sqlite3.Connection, *, write: bool = True) -> None:
        self.db = db
        self.write = write

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE" if self.write else "BEGIN")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.db.execute("ROLLBACK" if exc_type is not None else "COMMIT")


#: Above this many rows, ``state()`` and ``commit()`` read them all in one query.
_FETCH_ONE_BY_ONE = 64


def write_rows(
    db: sqlite3.Connection,
    final: Mapping[ResourceKey, tuple[str, int] | None],
    existed: set[ResourceKey],
    now: float,
) -> None:
    """Bring each key of ``final`` to its final state (a body and version, or absent), in
    three statements, whatever writes of one key led there."""
    db.executemany(
        "DELETE FROM resources WHERE kind=? AND namespace=? AND name=?",
        [(k.kind, k.namespace, k.name) for k, row in final.items() if row is None and k in existed],
    )
    db.executemany(
        "UPDATE resources SET body=?, version=? WHERE kind=? AND namespace=? AND name=?",
        [
            (row[0], row[1], k.kind, k.namespace, k.name)
            for k, row in final.items()
            if row is not None and k in existed
        ],
    )
    db.executemany(
        "INSERT INTO resources VALUES (?, ?, ?, ?, ?, ?)",
        [
            (k.kind, k.namespace, k.name, row[0], row[1], now)
            for k, row in final.items()
            if row is not None and k not in existed
        ],
    )


def existing_rows(
    db: sqlite3.Connection, keys: Sequence[ResourceKey]
) -> dict[ResourceKey, tuple[str, int] | None]:
    """The stored (body, version) of each of ``keys`` that exists."""
    found: dict[ResourceKey, tuple[str, int] | None] = {}
    wanted = set(keys)
    # one scan when the keys are many and a good share of the table; else one by one
    if (
        len(wanted) > _FETCH_ONE_BY_ONE
        and 4 * len(wanted) >= db.execute("SELECT count(*) FROM resources").fetchone()[0]
    ):
        for kind, namespace, name, body, version in db.execute(
            "SELECT kind, namespace, name, body, version FROM resources"
        ):
            key = ResourceKey(kind, namespace, name)
            if key in wanted:
                found[key] = (body, version)
        return found
    for key in wanted:
        row = db.execute(
            "SELECT body, version FROM resources WHERE kind=? AND namespace=? AND name=?",
            (key.kind, key.namespace, key.name),
        ).fetchone()
        if row is not None:
            found[key] = (row[0], row[1])
    return found


def read_resources(
    db: sqlite3.Connection, cached: Mapping[tuple[str, str, str], StoredResource]
) -> tuple[StoredResource, ...]:
    """Every resource, in key order; the bodies of those in ``cached`` (by (kind,
    namespace, name): a tuple hashes in C, a ``ResourceKey`` in Python) at the same
    version are reused (the rows' keys and versions are read, not their bodies)."""
    rows = db.execute(
        "SELECT kind, namespace, name, version FROM resources ORDER BY kind, namespace, name"
    ).fetchall()
    out: list[StoredResource | None] = []
    missing: list[int] = []
    for row in rows:
        hit = cached.get(row[:3])
        if hit is None or hit.version != row[3]:
            missing.append(len(out))
            hit = None
        out.append(hit)
    if len(missing) > _FETCH_ONE_BY_ONE:
        wanted = {ResourceKey(*rows[i][:3]): i for i in missing}
        for row in db.execute("SELECT * FROM resources"):
            i = wanted.get(ResourceKey(row["kind"], row["namespace"], row["name"]))
            if i is not None:
                out[i] = resource_row(row)
    else:
        for i in missing:
            row = db.execute(
                "SELECT * FROM resources WHERE kind=? AND namespace=? AND name=?",
                tuple(rows[i][:3]),
            ).fetchone()
            out[i] = resource_row(row)
    return tuple(r for r in out if r is not None)
