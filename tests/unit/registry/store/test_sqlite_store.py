"""The SQLite store: transactions, optimistic concurrency, leases (with an injected clock),
tokens, and persistence across a restart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from inmesh.registry import Conflict, NotFound, SqliteStore
from inmesh.registry.store import ResourceKey, StoredResource, Token, Write

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def vs(name: str, weight: int = 100, namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "hosts": [name],
            "http": [{"route": [{"destination": {"host": name}, "weight": weight}]}],
        },
    }


def key(name: str, kind: str = "VirtualService", namespace: str = "default") -> ResourceKey:
    return ResourceKey(kind, namespace, name)


def we(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "WorkloadEntry",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"address": "127.0.0.1", "ports": {"http": 8080}},
    }


async def stored_at(store: SqliteStore, k: ResourceKey) -> StoredResource | None:
    """The stored resource at ``k`` in the store's current state."""
    return next((r for r in (await store.state()).resources if r.key == k), None)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(tmp_path: Path, clock: Clock) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "registry.db", clock=clock)
    await s.open()
    yield s
    await s.close()


async def test_create_update_unchanged_delete_bump_the_revision(store: SqliteStore) -> None:
    assert await store.revision() == 0
    rev, results = await store.commit([Write(key("a"), vs("a"))])
    assert (rev, [r.action for r in results]) == (1, ["created"])
    rev, results = await store.commit([Write(key("a"), vs("a"))])
    assert (rev, [r.action for r in results]) == (1, ["unchanged"])
    rev, results = await store.commit([Write(key("a"), vs("a", 50))])
    assert (rev, results[0].action, results[0].version) == (2, "configured", 2)
    stored = await stored_at(store, key("a"))
    assert stored is not None and stored.version == 2
    assert stored.document()["metadata"]["resourceVersion"] == "2"
    rev, results = await store.commit([Write(key("a"), None)])
    assert (rev, results[0].action) == (3, "deleted")
    assert await stored_at(store, key("a")) is None


async def test_a_multi_document_commit_is_all_or_nothing(store: SqliteStore) -> None:
    await store.commit([Write(key("a"), vs("a"))])
    with pytest.raises(Conflict):
        await store.commit(
            [Write(key("b"), vs("b")), Write(key("a"), vs("a", 10), expected_version=99)]
        )
    assert await stored_at(store, key("b")) is None
    assert await store.revision() == 1
    with pytest.raises(NotFound):
        await store.commit([Write(key("a"), None), Write(key("missing"), None)])
    assert await stored_at(store, key("a")) is not None
    rev, results = await store.commit(
        [Write(key("a"), None), Write(key("missing"), None, missing_ok=True)]
    )
    assert [r.action for r in results] == ["deleted"] and rev == 2


async def test_resource_version_must_match_on_update(store: SqliteStore) -> None:
    _, [created] = await store.commit([Write(key("a"), vs("a"))])
    await store.commit([Write(key("a"), vs("a", 60), expected_version=created.version)])
    with pytest.raises(Conflict, match="modified"):
        await store.commit([Write(key("a"), vs("a", 70), expected_version=created.version)])
    with pytest.raises(Conflict, match="does not exist"):
        await store.commit([Write(key("new"), vs("new"), expected_version=5)])


async def test_the_state_lists_every_resource_in_key_order(store: SqliteStore) -> None:
    await store.commit(
        [
            Write(key("a"), vs("a")),
            Write(key("b", namespace="shop"), vs("b", namespace="shop")),
            Write(key("w", "WorkloadEntry"), we("w")),
        ]
    )
    state = await store.state()
    assert [str(r.key) for r in state.resources] == [
        "VirtualService default/a",
        "VirtualService shop/b",
        "WorkloadEntry default/w",
    ]
    assert state.revision == 1 and state.workloads == ()


async def test_leases_expire_unless_renewed(store: SqliteStore, clock: Clock) -> None:
    w = await store.register("default", "r1", we("r1"), ttl=10)
    assert w.version == 1 and w.expires == clock.now + 10
    clock.now += 8
    await store.heartbeat("default", "r1")
    clock.now += 8  # 16 s after registering, 8 s after the heartbeat: still live
    assert [x.name for x in await store.workloads()] == ["r1"]
    assert await store.expire() == 0
    clock.now += 3
    assert await store.workloads() == []  # already invisible before the sweep
    assert (await store.state()).workloads == ()
    assert await store.expire() == 1
    assert await store.revision() == 2
    with pytest.raises(NotFound, match="register again"):
        await store.heartbeat("default", "r1")


async def test_deregistration_removes_at_once(store: SqliteStore) -> None:
    await store.register("default", "r1", we("r1"), ttl=10)
    assert await store.deregister("default", "r1") == 2
    assert await store.workloads() == []
    with pytest.raises(NotFound):
        await store.deregister("default", "r1")


async def test_registrations_and_configured_workload_entries_do_not_collide(
    store: SqliteStore,
) -> None:
    await store.commit([Write(key("static", "WorkloadEntry"), we("static"))])
    with pytest.raises(Conflict, match="configured"):
        await store.register("default", "static", we("static"), ttl=10)
    await store.register("default", "live", we("live"), ttl=10)
    with pytest.raises(Conflict, match="live workload registration"):
        await store.commit([Write(key("live", "WorkloadEntry"), we("live"))])


async def test_heartbeats_do_not_change_the_revision(store: SqliteStore, clock: Clock) -> None:
    await store.register("default", "r1", we("r1"), ttl=10)
    before = await store.revision()
    clock.now += 1
    renewed = await store.heartbeat("default", "r1")
    assert renewed.renewed == clock.now and await store.revision() == before


async def test_wait_for_change_wakes_on_commit(store: SqliteStore) -> None:
    assert await store.wait_for_change(0, timeout=0.01) == 0
    await store.commit([Write(key("a"), vs("a"))])
    assert await store.wait_for_change(0, timeout=5) == 1


async def test_tokens(store: SqliteStore) -> None:
    token = Token(id="join-1", role="join", created=1.0, namespace="shop", service_account="cart")
    await store.put_token("digest", token)
    assert await store.find_token("digest") == token
    assert await store.find_token("other") is None
    assert await store.list_tokens() == [token]
    assert await store.delete_token("join-1") and not await store.delete_token("join-1")


async def test_a_restart_loses_nothing(tmp_path: Path, clock: Clock) -> None:
    first = SqliteStore(tmp_path / "r.db", clock=clock)
    await first.open()
    await first.commit([Write(key("a"), vs("a")), Write(key("b"), vs("b"))])
    await first.register("default", "r1", we("r1"), ttl=30)
    store_id = first.store_id
    await first.close()
    second = SqliteStore(tmp_path / "r.db", clock=clock)
    await second.open()
    try:
        state = await second.state()
        assert second.store_id == store_id
        assert state.revision == await second.revision() == 2
        assert [r.key.name for r in state.resources] == ["a", "b"]
        assert [w.name for w in state.workloads] == ["r1"]
        clock.now += 31
        assert await second.expire() == 1
    finally:
        await second.close()


@pytest.mark.parametrize("changed", [3, 100])  # row by row, and all rows in one query
async def test_state_decodes_only_rows_whose_version_changed(
    store: SqliteStore, tmp_path: Path, changed: int
) -> None:
    await store.commit([Write(key(f"r{i}"), vs(f"r{i}")) for i in range(120)])
    before = {r.key: r for r in (await store.state()).resources}
    await store.commit(
        [Write(key(f"r{i}"), vs(f"r{i}", weight=50)) for i in range(changed)]
        + [Write(key("r119"), None), Write(key("new"), vs("new"))]
    )
    after = {r.key: r for r in (await store.state()).resources}
    assert sorted(after) == sorted([*(k for k in before if k != key("r119")), key("new")])
    for i in range(changed):
        k = key(f"r{i}")
        assert after[k].version > before[k].version
        assert after[k].body["spec"]["http"][0]["route"][0]["weight"] == 50
    for i in range(changed, 119):
        k = key(f"r{i}")
        assert after[k] is before[k]  # the same version: not read again
    # another process sees the same rows (the reuse is keyed by version, not by memory)
    other = SqliteStore(tmp_path / "registry.db")
    await other.open()
    try:
        assert [(r.key, r.version, r.body) for r in (await other.state()).resources] == [
            (r.key, r.version, r.body) for r in (await store.state()).resources
        ]
    finally:
        await other.close()


@pytest.mark.parametrize("others", [0, 100])  # keys read one by one, and in one scan
async def test_a_commit_ends_each_key_as_its_last_write_says(
    store: SqliteStore, others: int
) -> None:
    await store.commit([Write(key("kept"), vs("kept")), Write(key("gone"), vs("gone"))])
    filler = [Write(key(f"f{i}"), vs(f"f{i}")) for i in range(others)]
    revision, results = await store.commit(
        [
            *filler,
            Write(key("gone"), None),
            Write(key("gone"), vs("gone", weight=10)),  # deleted, then created again
            Write(key("new"), vs("new")),
            Write(key("new"), None),  # created, then deleted
            Write(key("kept"), vs("kept", weight=20)),
        ]
    )
    assert [r.action for r in results][others:] == [
        "deleted",
        "created",
        "created",
        "deleted",
        "configured",
    ]
    gone, new, kept = [await stored_at(store, key(n)) for n in ("gone", "new", "kept")]
    assert new is None
    assert gone is not None and gone.version == revision
    assert gone.body["spec"]["http"][0]["route"][0]["weight"] == 10
    assert kept is not None and kept.body["spec"]["http"][0]["route"][0]["weight"] == 20
    assert len((await store.state()).resources) == 2 + others
