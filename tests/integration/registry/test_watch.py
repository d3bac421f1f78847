"""Watching: push on change, debounce, views per token, and the cache file through an
outage of the registry."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest

from inmesh.registry import RegistryClient, RegistryUnavailable, RegistryView

from .conftest import Registry, start_registry
from .yamls import bookinfo, destination_rule, service_account, virtual_service

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def at(views: AsyncIterator[RegistryView], revision: int) -> RegistryView:
    """The first view at ``revision`` or later (pushes are debounced, so an apply shows
    up a little after it returns)."""
    async for view in views:
        if view.revision >= revision:
            return view
    raise AssertionError("watch ended")


def applied(registry: Registry, body: str) -> int:
    response = registry.apply(body)
    assert response.status_code == 200, response.text
    return int(response.json()["revision"])


def weight(view: RegistryView) -> int | None:
    for r in view.resources:
        if r.kind == "VirtualService":
            return r.spec.http[0].route[0].weight
    return None


async def test_each_change_is_pushed_with_a_higher_revision(registry: Registry) -> None:
    revision = applied(registry, bookinfo(90))
    async with RegistryClient(registry.url, registry.admin) as client:
        views = client.watch()
        first = await at(views, revision)
        assert weight(first) == 90
        await anyio.to_thread.run_sync(registry.apply, virtual_service(weight=50))
        second = await anext(views)
        assert weight(second) == 50 and second.revision > first.revision
        # Unchanged resources are reused, not parsed again.
        dr = [r for r in second.resources if r.kind == "DestinationRule"]
        assert dr[0] is next(r for r in first.resources if r.kind == "DestinationRule")


async def test_a_burst_of_changes_is_debounced_into_one_push(tmp_path: Path) -> None:
    # A long quiet period makes the test independent of the machine's speed: the five
    # applies always land within one debounce window.
    registry = start_registry(tmp_path / "data", debounce=1.5, max_delay=10)
    try:
        revision = applied(registry, bookinfo(90))
        async with RegistryClient(registry.url, registry.admin) as client:
            views = client.watch()
            first = await at(views, revision)
            for w in (80, 70, 60, 50, 40):
                await anyio.to_thread.run_sync(registry.apply, virtual_service(weight=w))
            pushed = await anext(views)
            assert weight(pushed) == 40
            assert pushed.revision == first.revision + 5
    finally:
        registry.stop()


async def test_a_watcher_is_answered_304_when_nothing_changes(registry: Registry) -> None:
    async with httpx.AsyncClient(
        base_url=registry.url,
        trust_env=False,
        headers={"Authorization": f"Bearer {registry.admin}"},
    ) as c:
        snap = (await c.get("/v1/watch")).json()
        held = await c.get(
            "/v1/watch",
            params={"revision": snap["revision"], "store": snap["store"], "timeout": 0.2},
        )
        assert held.status_code == 304
        other = await c.get(
            "/v1/watch",
            params={"revision": snap["revision"], "store": "another-store", "timeout": 5},
        )
        assert other.status_code == 200  # a different store: answered at once


async def test_join_token_views(registry: Registry) -> None:
    revision = applied(
        registry,
        service_account("shop")
        + "---\n"
        + service_account("bank")
        + "---\n"
        + destination_rule(namespace="bank"),
    )
    async with RegistryClient(registry.url, registry.join_token("shop")) as client:
        view = await at(client.watch(), revision)
    assert sorted((r.kind, r.namespace) for r in view.resources) == [
        ("DestinationRule", "bank"),
        ("ServiceAccount", "shop"),
    ]


async def test_bad_credentials_fail_the_first_wait(registry: Registry) -> None:
    client = RegistryClient(registry.url, "inm_wrong")
    async with client:
        with pytest.raises(Exception, match="unknown or revoked token"):
            await anext(client.watch(first_timeout=5))


async def test_the_cache_carries_a_client_through_an_outage(tmp_path: Path) -> None:
    data, cache = tmp_path / "data", tmp_path / "client" / "view.json"
    registry = start_registry(data)
    port = registry.port
    revision = applied(registry, bookinfo(90))
    token = registry.join_token("default")
    survivor = RegistryClient(
        registry.url, token, cache_file=str(cache), backoff_initial=0.05, backoff_max=0.2, hold=1
    )
    latest: list[RegistryView] = []
    got = anyio.Event()

    async def follow() -> None:
        async for view in survivor.watch():
            latest.append(view)
            if view.revision >= revision:
                got.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(follow)
        await got.wait()
        first = latest[-1]
        assert weight(first) == 90 and cache.exists()
        registry.stop()

        # The registry is down: the watching client keeps its last-known-good view...
        await anyio.sleep(0.5)
        assert survivor.view == first
        # ...and a process started now routes from the cache.
        restarted = RegistryClient(f"http://127.0.0.1:{port}", token, cache_file=str(cache))
        cached = await anext(restarted.watch(first_timeout=0.3))
        assert cached.revision == first.revision and weight(cached) == 90
        # Without a cache there is nothing to route with.
        with pytest.raises(RegistryUnavailable, match="no cached view"):
            await anext(RegistryClient(f"http://127.0.0.1:{port}", token).watch(first_timeout=0.3))

        registry = start_registry(data, port=port)  # back, with everything it had
        try:
            revision = applied(registry, virtual_service(weight=20))
            got = anyio.Event()
            await got.wait()  # the survivor reconnected by itself
            assert weight(latest[-1]) == 20
            async with restarted:
                assert weight(await at(restarted.watch(), revision)) == 20
            tg.cancel_scope.cancel()
        finally:
            await survivor.aclose()
            registry.stop()


def test_start_in_thread_serves_sync_code(registry: Registry) -> None:
    revision = applied(registry, bookinfo(90))
    seen: list[int] = []
    changed = threading.Event()

    def on_view(view: RegistryView) -> None:
        seen.append(weight(view) or 0)
        if weight(view) == 30:
            changed.set()

    watch = RegistryClient(registry.url, registry.admin).start_in_thread(on_view)
    try:
        watch.wait_first()
        assert watch.view is not None
        reg = watch.register(address="127.0.0.1", ports={"http": 1}, labels={"app": "sync"})
        registry.apply(virtual_service(weight=30))
        assert changed.wait(15)
        reg.close()
    finally:
        watch.stop()
    assert seen[-1] == 30 and revision > 0
