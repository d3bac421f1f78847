"""The hub counts the snapshots it hands to watchers and how long after the change each
arrived (``pilot_xds_pushes``, ``pilot_proxy_convergence_time``), on its own clock."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from inmesh.registry import SqliteStore
from inmesh.registry.server import Hub

pytestmark = pytest.mark.anyio

BODY = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "WorkloadEntry",
    "metadata": {"name": "w", "namespace": "default"},
    "spec": {"address": "127.0.0.1"},
}


async def test_a_waiting_watcher_gets_the_push_and_its_delay(tmp_path: Path) -> None:
    now = [100.0]
    store = SqliteStore(tmp_path / "r.db")
    await store.open()
    try:
        hub = Hub(store, clock=lambda: now[0])
        delays: list[float] = []
        hub.on_push.append(delays.append)
        await hub._publish()
        start = hub.current
        got = []

        async def watch() -> None:
            got.append(await hub.wait(start.revision, start.store_id, 30))

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            await anyio.wait_all_tasks_blocked()
            await store.register("default", "w", BODY, 10)
            now[0] = 102.5  # the snapshot goes out 2.5 s after the change at 100
            await hub._publish(changed=100.0)
        assert got[0] is hub.current
        assert (hub.pushes, delays) == (1, [2.5])
        # a watcher that is behind gets the current snapshot at once: a push too
        now[0] = 103.0
        assert await hub.wait(start.revision, start.store_id, 30) is hub.current
        assert (hub.pushes, delays) == (2, [2.5, 3.0])
    finally:
        await store.close()
