"""Incremental push against a real registry, on SQLite and on a real etcd: a change
reaches a watcher as a delta, a watcher from before what the registry keeps a log for gets
a full snapshot, and a watcher of another namespace never hears of a resource not exported
to it (not even that it was deleted)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from inmesh.registry import EtcdStore, RegistryClient, SqliteStore, Store

from .conftest import Etcd, Registry, start_registry
from .yamls import bookinfo, virtual_service

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

Start = Callable[[], Registry]


@pytest.fixture(params=["sqlite", "etcd"])
def start(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Start]:
    """Starts a registry on one backend; each call a new process-like registry over the
    same stored state (a restart)."""
    prefix = f"/delta-{uuid.uuid4().hex[:8]}"
    started: list[Registry] = []

    def make() -> Registry:
        data = tmp_path / "data"
        store: Store
        if request.param == "etcd":
            etcd: Etcd = request.getfixturevalue("etcd")
            store = EtcdStore([etcd.url], prefix=prefix)
        else:
            store = SqliteStore(data / "registry.db")
        registry = start_registry(data, store)
        started.append(registry)
        return registry

    yield make
    for registry in started:
        registry.stop()


def watch(
    registry: Registry, token: str, since: dict[str, Any] | None = None, hold: float = 20
) -> httpx.Response:
    params: dict[str, Any] = {"delta": 1, "timeout": hold}
    if since is not None:
        params.update(revision=since["revision"], store=since["store"])
    with registry.http(token) as c:
        return c.get("/v1/watch", params=params)


def applied(registry: Registry, body: str) -> int:
    response = registry.apply(body)
    assert response.status_code == 200, response.text
    return int(response.json()["revision"])


def current(registry: Registry, token: str, revision: int) -> dict[str, Any]:
    """The watch answer at ``revision`` or later, from nothing (a full snapshot)."""
    while True:
        data: dict[str, Any] = watch(registry, token).json()
        if data["revision"] >= revision:
            return data


def service(name: str, namespace: str, export_to: str = "['*']", port: int = 80) -> str:
    return f"""apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  hosts: [{name}.{namespace}.example]
  exportTo: {export_to}
  ports: [{{number: {port}, name: http}}]
"""


async def test_a_change_reaches_a_watcher_as_a_delta(start: Start) -> None:
    registry = start()
    first = current(registry, registry.admin, applied(registry, bookinfo(90)))
    assert first["full"] is True and len(first["resources"]) == 3
    revision = applied(registry, virtual_service(weight=40))
    answer = watch(registry, registry.admin, first).json()
    assert "resources" not in answer and answer["since"] == first["revision"]
    assert answer["revision"] >= revision and answer["deleted"] == []
    (vs,) = answer["updated"]  # the one changed resource, not the three
    assert vs["kind"] == "VirtualService"
    assert vs["spec"]["http"][0]["route"][0]["weight"] == 40
    # and the client applies it: its view is complete, with the new weight
    async with RegistryClient(registry.url, registry.admin) as client:
        views = client.watch()
        view = await anext(views)
        assert len(view.resources) == 3
        await anyio.to_thread.run_sync(applied, registry, virtual_service(weight=20))
        with anyio.fail_after(20):
            view = await anext(views)
        weights = [
            r.spec.http[0].route[0].weight for r in view.resources if r.kind == "VirtualService"
        ]
        assert weights == [20] and len(view.resources) == 3


async def test_a_watcher_away_past_the_log_gets_a_full_snapshot(start: Start) -> None:
    registry = start()
    old = current(registry, registry.admin, applied(registry, bookinfo(90)))
    applied(registry, virtual_service(weight=30))
    registry.stop()
    # The restarted registry keeps a log only from its start: the watcher from before
    # that gets the whole state, one that is up to date is simply held.
    restarted = start()
    answer = watch(restarted, restarted.admin, old).json()
    assert answer["full"] is True and answer["revision"] > old["revision"]
    assert len(answer["resources"]) == 3
    up_to_date = watch(restarted, restarted.admin, answer, hold=0.2)
    assert up_to_date.status_code == 304


async def test_another_namespace_does_not_receive_what_is_not_exported_to_it(
    start: Start,
) -> None:
    registry = start()
    shop = registry.join_token("shop")
    body = "---\n".join([service("public", "bank"), service("private", "bank", "['.']")])
    first = current(registry, shop, applied(registry, body))
    assert [d["metadata"]["name"] for d in first["resources"]] == ["public"]
    # the private one changes, and the public one stops being exported to shop
    change = "---\n".join(
        [service("public", "bank", "['.']"), service("private", "bank", "['.']", port=81)]
    )
    applied(registry, change)
    answer = watch(registry, shop, first).json()
    assert answer["updated"] == []
    assert answer["deleted"] == [{"kind": "ServiceEntry", "namespace": "bank", "name": "public"}]
    # a new private resource and its deletion: shop hears of neither
    applied(registry, service("secret", "bank", "['.']"))
    with registry.http() as c:
        assert c.delete("/v1/resources/ServiceEntry/bank/secret").status_code == 200
    later = watch(registry, shop, answer).json()
    assert later.get("updated", []) == [] and later.get("deleted", []) == []
    assert "resources" not in later


async def test_etcd_change_log_follows_its_watch(etcd: Etcd) -> None:
    from inmesh.registry.store import ResourceKey, Write

    def vs(weight: int) -> dict[str, Any]:
        return {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "r", "namespace": "default"},
            "spec": {"hosts": ["r"], "http": [{"route": [{"destination": {"host": "r"}}]}]},
            "weight": weight,
        }

    key = ResourceKey("VirtualService", "default", "r")
    store = EtcdStore([etcd.url], prefix=f"/log-{uuid.uuid4().hex[:8]}")
    await store.open()
    try:
        start = await store.revision()
        first, _ = await store.commit([Write(key, vs(1))])
        second, _ = await store.commit([Write(key, vs(2))])
        changes = await store.changes(start)
        assert changes is not None and changes.revision == second
        doc = changes.documents[key]
        assert doc is not None and doc["metadata"]["resourceVersion"] == str(second)
        body = {"apiVersion": "networking.istio.io/v1", "kind": "WorkloadEntry", "spec": {}}
        await store.register("default", "w", body, ttl=30)
        gone = await store.deregister("default", "w")
        await store.commit([Write(key, None)])
        after = await store.changes(first)
        assert after is not None and after.revision > gone
        assert after.documents == {key: None, ResourceKey("WorkloadEntry", "default", "w"): None}
        assert await store.changes(start - 1) is None  # from before this store opened
    finally:
        await store.close()


async def test_a_delta_parameter_other_than_0_or_1_is_refused(tmp_path: Path) -> None:
    registry = start_registry(tmp_path / "data")
    try:
        with registry.http() as c:
            response = c.get("/v1/watch", params={"delta": "yes", "timeout": 0})
        assert response.status_code == 400
        assert response.json()["messages"] == ["query parameter delta must be 0 or 1, not 'yes'"]
    finally:
        registry.stop()


SIDECAR = """apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: shop}
spec:
  egress:
  - hosts: ["./*", "bank/public.bank.example"]
"""


def routed(name: str, namespace: str, to: str) -> str:
    return f"""apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  hosts: [{name}.{namespace}.example]
  http: [{{route: [{{destination: {{host: {to}}}}}]}}]
"""


async def test_a_sidecar_scopes_what_a_reporting_proxy_receives(tmp_path: Path) -> None:
    registry = start_registry(tmp_path / "data", SqliteStore(tmp_path / "data" / "r.db"))
    try:
        shop = registry.join_token("shop")
        body = "---\n".join(
            [
                service("cart", "shop"),
                service("public", "bank"),
                service("other", "bank"),
                service("ledger", "audit"),
                # imported with the VirtualService that routes to it, as Istio does
                routed("front", "shop", "ledger.audit.example"),
            ]
        )
        revision = applied(registry, body)
        with registry.http(shop) as c:
            report = {"id": "cart-1", "service": "cart", "namespace": "shop", "applied": 0}
            assert c.post("/v1/proxies", json=report).status_code == 200

        def names(answer: dict[str, Any]) -> list[str]:
            return sorted(d["metadata"]["name"] for d in answer["resources"])

        def as_proxy(since: dict[str, Any] | None = None) -> dict[str, Any]:
            params: dict[str, Any] = {"delta": 1, "timeout": 20, "proxy": "cart-1"}
            if since is not None:
                params.update(revision=since["revision"], store=since["store"])
            with registry.http(shop) as c:
                data: dict[str, Any] = c.get("/v1/watch", params=params).json()
            return data

        unscoped = as_proxy()
        assert unscoped["revision"] >= revision
        assert names(unscoped) == ["cart", "front", "ledger", "other", "public"]
        applied(registry, SIDECAR)
        # the Sidecar changed what this proxy may see: a full snapshot, scoped
        scoped = as_proxy(unscoped)
        assert scoped["full"] is True
        assert names(scoped) == ["cart", "default", "front", "ledger", "public"]
        # a change outside the scope is not sent; one inside arrives as a delta
        applied(registry, service("other", "bank", port=81))
        applied(registry, service("public", "bank", port=82))
        # (the two writes may reach the watch as two pushes: the first then carries
        # nothing this proxy sees)
        seen: list[str] = []
        later = scoped
        for _ in range(3):
            later = as_proxy(later)
            assert "resources" not in later
            seen += [d["metadata"]["name"] for d in later["updated"]]
            if seen:
                break
        assert seen == ["public"]
        # a watcher that reports no proxy keeps its namespace's whole view
        assert "other" in names(current(registry, shop, later["revision"]))
    finally:
        registry.stop()
