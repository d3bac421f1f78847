"""The stores' change logs: what changed after a revision (net, per key), compaction,
and the gap (too old, or ahead) answered with None so the caller reads the whole state."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from inmesh.registry import SqliteStore
from inmesh.registry.store import ResourceKey, Write
from inmesh.registry.store._etcd_log import EventLog

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def vs(name: str, weight: int = 100) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"hosts": [name], "http": [{"route": [{"destination": {"host": name}}]}]},
        "weight-marker": weight,
    }


def key(name: str, kind: str = "VirtualService") -> ResourceKey:
    return ResourceKey(kind, "default", name)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(tmp_path: Path, clock: Clock) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "registry.db", clock=clock, log_revisions=3)
    await s.open()
    yield s
    await s.close()


async def test_sqlite_changes_are_net_per_key_with_current_documents(store: SqliteStore) -> None:
    r1, _ = await store.commit([Write(key("a"), vs("a")), Write(key("b"), vs("b"))])
    r2, _ = await store.commit([Write(key("a"), vs("a", 50))])
    r3, _ = await store.commit([Write(key("b"), None)])
    changes = await store.changes(r1)
    assert changes is not None and changes.revision == r3
    assert set(changes.documents) == {key("a"), key("b")}
    doc = changes.documents[key("a")]
    assert doc is not None and doc["metadata"]["resourceVersion"] == str(r2)
    assert changes.documents[key("b")] is None
    nothing = await store.changes(r3)
    assert nothing is not None and dict(nothing.documents) == {}


async def test_sqlite_unchanged_apply_logs_nothing(store: SqliteStore) -> None:
    r1, _ = await store.commit([Write(key("a"), vs("a"))])
    again, _ = await store.commit([Write(key("a"), vs("a"))])
    assert again == r1
    changes = await store.changes(r1)
    assert changes is not None and dict(changes.documents) == {}


async def test_sqlite_log_is_compacted_and_too_old_is_a_gap(store: SqliteStore) -> None:
    revisions = [(await store.commit([Write(key("a"), vs("a", w))]))[0] for w in range(6)]
    assert revisions == [1, 2, 3, 4, 5, 6]
    assert await store.changes(2) is None  # older than the last 3 revisions
    kept = await store.changes(3)
    assert kept is not None and set(kept.documents) == {key("a")}
    assert await store.changes(7) is None  # ahead of the store: not ours


async def test_sqlite_registrations_and_expiry_are_logged(store: SqliteStore, clock: Clock) -> None:
    body = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "WorkloadEntry",
        "metadata": {"name": "w", "namespace": "default"},
        "spec": {"address": "127.0.0.1"},
    }
    workload = await store.register("default", "w", body, ttl=10)
    changes = await store.changes(0)
    assert changes is not None
    doc = changes.documents[key("w", "WorkloadEntry")]
    assert doc is not None and doc["metadata"]["annotations"] == {"inmesh.io/registered": "true"}
    clock.now += 11
    assert await store.expire() == 1
    after = await store.changes(workload.version)
    assert after is not None and after.documents == {key("w", "WorkloadEntry"): None}


async def test_sqlite_log_survives_a_restart(tmp_path: Path, clock: Clock) -> None:
    s = SqliteStore(tmp_path / "r.db", clock=clock)
    await s.open()
    r1, _ = await s.commit([Write(key("a"), vs("a"))])
    await s.commit([Write(key("a"), vs("a", 1))])
    await s.close()
    s = SqliteStore(tmp_path / "r.db", clock=clock)
    await s.open()
    try:
        changes = await s.changes(r1)
        assert changes is not None and set(changes.documents) == {key("a")}
    finally:
        await s.close()


# -- the etcd store's in-memory log ---------------------------------------------------------


def event(revision: int, name: str, *, delete: bool = False) -> dict[str, Any]:
    kv: dict[str, Any] = {
        "key": base64.b64encode(f"/p/state/r/VirtualService/default/{name}".encode()).decode(),
        "mod_revision": str(revision),
    }
    if not delete:
        kv["value"] = base64.b64encode(json.dumps({"body": {}, "created": 0}).encode()).decode()
    return {"kv": kv, **({"type": "DELETE"} if delete else {})}


def key_of(raw: str) -> ResourceKey:
    return key(base64.b64decode(raw).decode().rsplit("/", 1)[1])


def test_event_log_latest_event_per_key_and_deletes() -> None:
    log = EventLog(max_entries=100)
    log.restart(10)
    log.record([event(11, "a"), event(11, "b")], 11, key_of)
    log.record([event(12, "a", delete=True)], 12, key_of)
    latest = log.since(10)
    assert latest is not None and latest[key("a")] is None and latest[key("b")] is not None
    assert log.since(11) == {key("a"): None}
    assert log.since(12) == {}
    assert log.since(9) is None  # from before this replica followed etcd
    assert log.since(13) is None


def test_event_log_compaction_drops_whole_revisions() -> None:
    log = EventLog(max_entries=3)
    log.restart(0)
    log.record([event(1, "a"), event(1, "b")], 1, key_of)
    log.record([event(2, "c"), event(2, "d")], 2, key_of)
    # 4 events > 3: revision 1 leaves whole, so "since 0" can no longer be answered
    assert len(log) == 2 and log.start == 1
    assert log.since(0) is None
    assert set(log.since(1) or {}) == {key("c"), key("d")}
