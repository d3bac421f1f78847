"""Pushing configuration: debounce changes, build one snapshot, hand it to every watcher.

A snapshot is the *whole* state (every resource and every live workload, as
WorkloadEntry documents) at one revision, never a delta: a watcher that missed anything
catches up with the next one, and a reconnecting watcher needs nothing replayed. It is
serialized once per view (all, or one namespace's) however many watchers wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..store import Store
from ._auth import Principal, visible

__all__ = ["Debouncer", "Hub", "Published"]

log = logging.getLogger("inmesh.registry")


@dataclass
class Debouncer:
    """Istio's push debounce, as a pure state machine.

    A change starts a burst; the push is due once no change came for ``after`` seconds
    (``PILOT_DEBOUNCE_AFTER``, 100 ms) or ``max_delay`` seconds after the burst began
    (``PILOT_DEBOUNCE_MAX``; Istio uses 10 s, we default to 1 s so a steady stream of
    changes still reaches clients within a bounded delay).
    """

    after: float = 0.1
    max_delay: float = 1.0
    first: float | None = field(default=None, init=False)
    last: float | None = field(default=None, init=False)

    def change(self, now: float) -> None:
        if self.first is None:
            self.first = now
        self.last = now

    def deadline(self) -> float | None:
        """When the pending push is due, or None when nothing is pending."""
        if self.first is None or self.last is None:
            return None
        return min(self.last + self.after, self.first + self.max_delay)

    def due(self, now: float) -> bool:
        deadline = self.deadline()
        return deadline is not None and now >= deadline

    def reset(self) -> None:
        self.first = self.last = None


@dataclass(kw_only=True)
class Published:
    """One snapshot as handed out: its revision, store id and documents."""

    revision: int
    store_id: str
    documents: tuple[Mapping[str, Any], ...]
    #: when the first change it carries happened (the hub's clock), for convergence time
    changed: float = 0.0
    _bodies: dict[str, bytes] = field(default_factory=dict, repr=False)

    def body(self, principal: Principal) -> bytes:
        """The JSON watch answer for ``principal``'s view, serialized once per view."""
        view = "*" if principal.admin else f"ns:{principal.token.namespace}"
        cached = self._bodies.get(view)
        if cached is None:
            docs = [d for d in self.documents if visible(principal, d)]
            cached = json.dumps(
                {"revision": self.revision, "store": self.store_id, "resources": docs},
                separators=(",", ":"),
            ).encode()
            self._bodies[view] = cached
        return cached


class Hub:
    """Follows the store, debounces, publishes snapshots, wakes long-polling watchers.

    Also sweeps expired registrations every ``sweep_interval`` seconds (a no-op on etcd,
    which expires leases itself).
    """

    def __init__(
        self,
        store: Store,
        *,
        debounce: float = 0.1,
        max_delay: float = 1.0,
        sweep_interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.debouncer = Debouncer(after=debounce, max_delay=max_delay)
        self.sweep_interval = sweep_interval
        self.clock = clock
        self.current = Published(revision=0, store_id="", documents=())
        self._waiters: dict[asyncio.Future[Published | None], tuple[int, str]] = {}
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        #: snapshots handed to watchers (``pilot_xds_pushes``)
        self.pushes = 0
        #: called with each push's delay from the change to the watcher, in seconds
        #: (``pilot_proxy_convergence_time``)
        self.on_push: list[Callable[[float], None]] = []

    async def start(self) -> None:
        await self._publish()
        self._task = asyncio.create_task(self._run(), name="inmesh-registry-push")

    async def stop(self) -> None:
        self.release()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def release(self) -> None:
        """Answer every waiting watcher now (at shutdown, so long polls do not hold it)."""
        self._closing = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def _publish(self, changed: float | None = None) -> None:
        state = await self.store.state()
        docs = [r.document() for r in state.resources]
        docs.extend(w.document() for w in state.workloads)
        current = self.current = Published(
            revision=state.revision,
            store_id=state.store_id,
            documents=tuple(docs),
            changed=self.clock() if changed is None else changed,
        )
        for waiter, (revision, store_id) in list(self._waiters.items()):
            if current.store_id != store_id or current.revision > revision:
                del self._waiters[waiter]
                if not waiter.done():
                    waiter.set_result(current)
                    self._pushed(current)

    def _pushed(self, published: Published) -> None:
        self.pushes += 1
        delay = max(0.0, self.clock() - published.changed)
        for observe in self.on_push:
            observe(delay)

    async def _run(self) -> None:
        seen = self.current.revision
        next_sweep = self.clock() + self.sweep_interval
        while True:
            try:
                now = self.clock()
                deadline = self.debouncer.deadline()
                wake = next_sweep if deadline is None else min(deadline, next_sweep)
                revision = await self.store.wait_for_change(seen, max(0.0, wake - now))
                if revision != seen:
                    seen = revision
                    self.debouncer.change(self.clock())
                if self.clock() >= next_sweep:
                    next_sweep = self.clock() + self.sweep_interval
                    await self.store.expire()
                if self.debouncer.due(self.clock()):
                    first = self.debouncer.first
                    self.debouncer.reset()
                    await self._publish(first)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store is down: keep serving the last snapshot
                log.warning("registry push loop: %s: %s; retrying", type(exc).__name__, exc)
                self.debouncer.change(self.clock())
                await asyncio.sleep(self.sweep_interval)

    async def wait(self, revision: int, store_id: str, timeout: float) -> Published | None:
        """The current snapshot once it is newer than ``revision`` of ``store_id``, or
        None after ``timeout`` seconds. A different store id (the store was replaced, or
        the watcher never had one) is answered at once.

        Each waiter is one future and one timer, not a task: a thousand held polls cost
        a thousand small objects, and a publish resolves them in one pass.
        """
        current = self.current
        if current.store_id != store_id:
            # A watcher's first look (or one from another store) gets the latest state,
            # not the debounced one: a client started right after an apply must see it.
            if await self.store.revision() > current.revision:
                await self._publish()
            return self.current
        if current.revision > revision:
            self._pushed(current)
            return current
        if timeout <= 0 or self._closing:
            return None
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Published | None] = loop.create_future()
        self._waiters[waiter] = (revision, store_id)
        timer = loop.call_later(timeout, _expire, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()
            self._waiters.pop(waiter, None)


def _expire(waiter: asyncio.Future[Published | None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
