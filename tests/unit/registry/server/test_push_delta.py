"""The hub publishes from the store's change log and answers each watcher with a delta
from its revision (or a full snapshot on first contact, after a gap, or from another
store), filtered by the watcher's scope."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from inmesh.registry import SqliteStore
from inmesh.registry.server import Hub
from inmesh.registry.server._auth import Principal
from inmesh.registry.server._scope import watch_scope
from inmesh.registry.store import ResourceKey, Token, Write

pytestmark = pytest.mark.anyio

SHOP = watch_scope(Principal(Token(id="j", role="join", created=0.0, namespace="shop")), {})
ADMIN = watch_scope(Principal(Token(id="a", role="admin", created=0.0)), {})


def se(name: str, namespace: str = "bank", port: int = 80, export_to: Any = None) -> Any:
    spec: dict[str, Any] = {"hosts": [f"{name}.example"], "ports": [{"number": port}]}
    if export_to is not None:
        spec["exportTo"] = export_to
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def put(name: str, namespace: str = "bank", **kw: Any) -> Write:
    return Write(ResourceKey("ServiceEntry", namespace, name), se(name, namespace, **kw))


def names(body: bytes, field: str = "updated") -> list[str]:
    return sorted(d["metadata"]["name"] for d in json.loads(body).get(field, ()))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "r.db")
    await s.open()
    yield s
    await s.close()


async def test_a_change_is_published_from_the_log_and_sent_as_a_delta(
    store: SqliteStore,
) -> None:
    await store.commit([put("a"), put("b"), put("private", export_to=["."])])
    hub = Hub(store)
    await hub._publish()
    first = hub.current
    assert (hub.full_reads, len(first.index)) == (1, 3)
    gone = Write(ResourceKey("ServiceEntry", "bank", "b"), None)
    await store.commit([put("a", port=81), put("c"), gone])
    await hub._publish()
    second = hub.current
    assert hub.full_reads == 1  # the change log, not a full read
    answer = json.loads(second.body(ADMIN, first.revision))
    assert (answer["since"], answer["revision"]) == (first.revision, second.revision)
    assert names(second.body(ADMIN, first.revision)) == ["a", "c"]
    assert answer["deleted"] == [{"kind": "ServiceEntry", "namespace": "bank", "name": "b"}]
    full = json.loads(second.body(ADMIN, None))
    assert full["full"] is True and names(second.body(ADMIN), "resources") == [
        "a",
        "c",
        "private",
    ]


async def test_scope_filters_deltas_and_snapshots(store: SqliteStore) -> None:
    await store.commit([put("shared"), put("private", export_to=["."])])
    hub = Hub(store)
    await hub._publish()
    first = hub.current
    assert names(first.body(SHOP), "resources") == ["shared"]
    # the private one changes (not mentioned), the shared one stops being exported
    await store.commit([put("private", port=81, export_to=["."]), put("shared", export_to=["."])])
    await hub._publish()
    answer = json.loads(hub.current.body(SHOP, first.revision))
    assert answer["updated"] == []
    assert answer["deleted"] == [{"kind": "ServiceEntry", "namespace": "bank", "name": "shared"}]
    assert names(hub.current.body(SHOP), "resources") == []


async def test_a_watcher_older_than_the_push_log_gets_a_full_snapshot(
    store: SqliteStore,
) -> None:
    hub = Hub(store, log_entries=2)
    await hub._publish()
    start = hub.current.revision
    for i in range(3):
        await store.commit([put(f"s{i}")])
        await hub._publish()
    behind = json.loads(hub.current.body(ADMIN, start))
    assert behind["full"] is True and len(behind["resources"]) == 3
    recent = json.loads(hub.current.body(ADMIN, hub.current.revision - 1))
    assert [d["metadata"]["name"] for d in recent["updated"]] == ["s2"]


async def test_a_gap_in_the_stores_log_is_read_whole_and_still_diffed(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "r.db", log_revisions=1)
    await store.open()
    try:
        hub = Hub(store)
        await hub._publish()
        start = hub.current.revision
        await store.commit([put("a")])
        await store.commit([put("b")])  # the store's log now starts after "a"
        await hub._publish()
        assert hub.full_reads == 2
        answer = json.loads(hub.current.body(ADMIN, start))
        assert sorted(d["metadata"]["name"] for d in answer["updated"]) == ["a", "b"]
    finally:
        await store.close()


async def test_nothing_new_publishes_nothing(store: SqliteStore) -> None:
    hub = Hub(store)
    await hub._publish()
    before = hub.current
    await hub._publish()
    assert hub.current is before
