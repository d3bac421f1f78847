"""The etcd store against a real etcd, and two registry processes sharing one etcd."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from inmesh.registry import Conflict, EtcdStore, NotFound, RegistryClient, RegistryView
from inmesh.registry.store import ResourceKey, StoredResource, Token, Write
from inmesh.security import CertificateAuthority

from .conftest import Etcd, Registry, spawn_registry
from .yamls import bookinfo, virtual_service

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def vs(name: str, weight: int = 100) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "hosts": [name],
            "http": [{"route": [{"destination": {"host": name}, "weight": weight}]}],
        },
    }


def we(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "WorkloadEntry",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"address": "127.0.0.1", "ports": {"http": 8080}},
    }


def key(name: str, kind: str = "VirtualService") -> ResourceKey:
    return ResourceKey(kind, "default", name)


async def stored_at(store: EtcdStore, k: ResourceKey) -> StoredResource | None:
    """The stored resource at ``k`` in the store's current state."""
    return next((r for r in (await store.state()).resources if r.key == k), None)


@pytest.fixture
async def store(etcd: Etcd) -> AsyncIterator[EtcdStore]:
    s = EtcdStore([etcd.url], prefix=f"/test-{uuid.uuid4().hex[:8]}")
    await s.open()
    yield s
    await s.close()


async def test_transactions_and_resource_versions(store: EtcdStore) -> None:
    rev, [created] = await store.commit([Write(key("a"), vs("a"))])
    assert created.action == "created" and created.version == rev
    rev2, [same] = await store.commit([Write(key("a"), vs("a"))])
    assert same.action == "unchanged" and rev2 == rev
    with pytest.raises(Conflict):
        await store.commit(
            [Write(key("b"), vs("b")), Write(key("a"), vs("a", 5), expected_version=rev + 100)]
        )
    assert await stored_at(store, key("b")) is None
    _, [updated] = await store.commit([Write(key("a"), vs("a", 5), expected_version=rev)])
    assert updated.action == "configured" and updated.version > rev
    stored = await stored_at(store, key("a"))
    assert stored is not None and stored.version == updated.version
    with pytest.raises(NotFound):
        await store.commit([Write(key("a"), None), Write(key("zz"), None)])
    state = await store.state()
    assert [r.key.name for r in state.resources] == ["a"]


async def test_leases_heartbeats_and_deregistration(store: EtcdStore) -> None:
    w = await store.register("default", "r1", we("r1"), ttl=2)
    assert w.ttl >= 2
    await store.heartbeat("default", "r1")
    assert [x.name for x in await store.workloads()] == ["r1"]
    with pytest.raises(Conflict):
        await store.commit([Write(key("r1", "WorkloadEntry"), we("r1"))])
    await store.deregister("default", "r1")
    assert await store.workloads() == []
    with pytest.raises(NotFound):
        await store.heartbeat("default", "r1")
    await store.register("default", "r2", we("r2"), ttl=1)  # etcd grants its minimum
    with anyio.fail_after(15):  # etcd deletes the key once the lease runs out
        while (await store.state()).workloads:
            await anyio.sleep(0.2)
    assert await store.workloads() == []


async def test_changes_are_observed_through_the_watch(etcd: Etcd, store: EtcdStore) -> None:
    other = EtcdStore([etcd.url], prefix=store.prefix)
    await other.open()
    try:
        seen = await other.revision()
        rev, _ = await store.commit([Write(key("w"), vs("w"))])
        assert await other.wait_for_change(seen, timeout=10) >= rev
        assert other.store_id == store.store_id
    finally:
        await other.close()


async def test_tokens(store: EtcdStore) -> None:
    token = Token(id="join-x", role="join", created=1.0, namespace="shop")
    await store.put_token("abc", token)
    assert await store.find_token("abc") == token
    assert await store.list_tokens() == [token]
    assert await store.delete_token("join-x") and await store.find_token("abc") is None


@pytest.fixture
def replicas(etcd: Etcd, tmp_path: Path) -> Iterator[tuple[Registry, Registry]]:
    prefix = f"/replicas-{uuid.uuid4().hex[:8]}"
    ca_dir = tmp_path / "ca"  # every replica signs with one plug-in CA
    CertificateAuthority.init_root(ca_dir)
    options = (
        *("--store", "etcd", "--etcd-endpoints", etcd.url, "--etcd-prefix", prefix),
        *("--ca-dir", str(ca_dir)),
    )
    a = spawn_registry(tmp_path / "a", *options)
    try:
        b = spawn_registry(tmp_path / "b", *options)
    except BaseException:
        a.stop()
        raise
    yield a, b
    a.stop()
    b.stop()


async def test_two_replicas_serve_one_state_and_both_push(
    replicas: tuple[Registry, Registry],
) -> None:
    a, b = replicas
    token = a.join_token("default")  # made through a, accepted by b

    async def first_with(client: RegistryClient, weight: int) -> RegistryView:
        async for view in client.watch():
            for r in view.resources:
                if r.kind == "VirtualService" and r.spec.http[0].route[0].weight == weight:
                    return view
        raise AssertionError("watch ended")

    async with RegistryClient(a.url, token) as via_a, RegistryClient(b.url, token) as via_b:
        assert a.apply(bookinfo(90)).status_code == 200
        with anyio.fail_after(20):
            va, vb = await first_with(via_a, 90), await first_with(via_b, 90)
        assert va.revision == vb.revision
        assert b.apply(virtual_service(weight=40)).status_code == 200  # b's own admin token
        with anyio.fail_after(20):
            va, vb = await first_with(via_a, 40), await first_with(via_b, 40)
        assert va.revision == vb.revision
        with b.http() as c:
            got = c.get("/v1/resources/VirtualService/default/reviews").json()
        with a.http() as c:
            assert c.get("/v1/resources/VirtualService/default/reviews").json() == got


async def test_replicas_sign_with_the_one_plugged_in_ca(
    replicas: tuple[Registry, Registry],
) -> None:
    a, b = replicas
    async with RegistryClient(a.url, a.admin) as ca, RegistryClient(b.url, b.admin) as cb:
        assert await ca.roots() == await cb.roots()


def test_etcd_without_ca_dir_is_refused(etcd: Etcd, tmp_path: Path) -> None:
    options = ("--store", "etcd", "--etcd-endpoints", etcd.url)
    with pytest.raises(RuntimeError) as info:
        spawn_registry(tmp_path / "a", *options)
    assert "--store etcd needs --ca-dir DIR" in str(info.value)
    assert not (tmp_path / "a" / "ca").exists()  # no root made that others would not share
