"""SQLite plumbing for ``_sqlite``: the schema, row decoding, transactions."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from ._base import ResourceKey, StoredResource, WorkloadRecord

__all__ = [
    "SCHEMA",
    "get_meta",
    "is_live",
    "log_changes",
    "resource_row",
    "set_meta",
    "transaction",
    "workload_row",
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
