"""Workload registration: leases, heartbeats, graceful deregistration, join-token scope."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest

from inmesh.registry import REGISTERED_ANNOTATION, RegistryClient, RegistryRejected

from .conftest import Registry

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def registration(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": "shop",
        "address": "127.0.0.1",
        "ports": {"http": 9080},
        "labels": {"app": "cart", "version": "v1"},
        **extra,
    }


def live(registry: Registry) -> list[str]:
    with registry.http() as c:
        return [w["name"] for w in c.get("/v1/workloads").json()["items"]]


def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    """Poll ``predicate`` until true (a bound on waiting, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


async def test_register_appears_as_a_workload_entry_and_deregisters(registry: Registry) -> None:
    client = RegistryClient(registry.url, registry.join_token("shop"))
    watcher = RegistryClient(registry.url, registry.admin)
    views = watcher.watch()
    async with client, watcher:
        async with client.register(
            address="127.0.0.1", ports={"http": 9080}, namespace="shop", labels={"app": "cart"}
        ) as reg:
            assert reg.name is not None and reg.name.startswith("cart-")
            async for view in views:
                if view.revision >= reg.revision:
                    break
            entries = [r for r in view.resources if r.kind == "WorkloadEntry"]
            assert [e.name for e in entries] == [reg.name]
            assert entries[0].metadata.annotations[REGISTERED_ANNOTATION] == "true"
            assert entries[0].spec.address == "127.0.0.1"
        assert live(registry) == []  # deregistered at once on exit...
        async for view in views:  # ...and pushed to watchers
            if not any(r.kind == "WorkloadEntry" for r in view.resources):
                break


async def test_an_expired_lease_disappears_and_heartbeats_keep_it(registry: Registry) -> None:
    token = registry.join_token("shop")
    with registry.http(token) as c:
        r = c.post("/v1/workloads", json=registration("silent", ttl=1))
        assert r.status_code == 201, r.text
    client = RegistryClient(registry.url, token)
    async with (
        client,
        client.register(
            address="127.0.0.1", ports={"http": 1}, namespace="shop", name="beating", ttl=2
        ),
    ):
        # The silent one (no heartbeats) expires; the one heartbeating stays.
        await anyio.to_thread.run_sync(lambda: wait_until(lambda: "silent" not in live(registry)))
        await anyio.sleep(2.5)
        assert live(registry) == ["beating"]


async def test_a_heartbeat_after_expiry_registers_again(registry: Registry) -> None:
    client = RegistryClient(registry.url, registry.join_token("shop"))
    async with client:
        reg = await client.register(
            address="127.0.0.1", ports={"http": 1}, namespace="shop", name="again", ttl=1
        ).start()
        try:
            assert reg._task is not None
            reg._task.cancel()  # stop heartbeating: let the lease run out
            await anyio.to_thread.run_sync(lambda: wait_until(lambda: live(registry) == []))
            await reg.heartbeat()
            assert live(registry) == ["again"]
        finally:
            await reg.close()


async def test_join_tokens_are_scoped(registry: Registry) -> None:
    shop = registry.join_token("shop")
    cart = registry.join_token("shop", service_account="cart")
    with registry.http(shop) as c:
        r = c.post("/v1/workloads", json={**registration("x"), "namespace": "bank"})
        assert r.status_code == 403 and "namespace 'bank'" in r.json()["messages"][0]
        assert c.get("/v1/workloads", params={"namespace": "bank"}).status_code == 403
    with registry.http(cart) as c:
        r = c.post("/v1/workloads", json=registration("y", serviceAccount="orders"))
        assert r.status_code == 403
        r = c.post("/v1/workloads", json=registration("z"))
        assert r.status_code == 201  # the token's service account is filled in
        assert r.json()["workload"]["spec"]["serviceAccount"] == "cart"
    with registry.http(shop) as c:
        c.post("/v1/workloads", json=registration("other", serviceAccount="orders"))
    with registry.http(cart) as c:
        assert c.post("/v1/workloads/shop/other/heartbeat").status_code == 403
        assert c.delete("/v1/workloads/shop/other").status_code == 403
        assert c.delete("/v1/workloads/shop/z").status_code == 200
    with registry.http(None) as c:
        assert c.post("/v1/workloads", json=registration("n")).status_code == 401


async def test_bad_registrations(registry: Registry) -> None:
    with registry.http() as c:
        bad = c.post("/v1/workloads", json=registration("x", address="not an ip!", ttl=0))
        assert bad.status_code == 400
        assert "ttl" in bad.json()["messages"][0]
        bad = c.post("/v1/workloads", json=registration("x", address="not an ip!"))
        assert bad.status_code == 400 and "address" in " ".join(bad.json()["messages"])
        r = c.post("/v1/workloads", json=registration("x", csr="PEM"))
        assert r.status_code == 400 and "POST /v1/certificates" in r.json()["messages"][0]
        assert c.post("/v1/workloads/shop/none/heartbeat").status_code == 404
    client = RegistryClient(registry.url, registry.admin)
    async with client:
        with pytest.raises(RegistryRejected) as info:
            await client.register(address="127.0.0.1", ports={"http": 0}).start()
        assert info.value.status == 400


async def test_a_bad_registration_reports_every_problem(registry: Registry) -> None:
    body = registration("x", address="not an ip!", ttl=0, ports={"http": 0}, colour="blue")
    with registry.http() as c:
        bad = c.post("/v1/workloads", json=body)
    assert bad.status_code == 400
    messages = bad.json()["messages"]
    for expected in ("unknown field 'colour'", "ttl must be", "spec.address", "spec.ports"):
        assert sum(expected in m for m in messages) == 1, (expected, messages)
    assert live(registry) == []


def test_a_sync_app_registers_through_the_background_watch(registry: Registry) -> None:
    watch = RegistryClient(registry.url, registry.join_token("shop")).start_in_thread(None)
    try:
        watch.wait_first()
        reg = watch.register(
            address="127.0.0.1", ports={"http": 9080}, namespace="shop", name="sync-app"
        )
        assert reg.name == "sync-app" and live(registry) == ["sync-app"]
        reg.close()
        assert live(registry) == []
    finally:
        watch.stop()
