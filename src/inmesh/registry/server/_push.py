"""Pushing configuration: debounce changes, publish each revision, answer every watcher.

Istio's incremental push: a watcher that has a revision gets only what changed since
(a delta, filtered by its scope: ``_delta.py``, ``_scope.py``), and a full snapshot (the
whole state it may see: every resource and every live workload, as WorkloadEntry
documents) only on first contact, after a gap (its revision is older than the log, or
from another store), or when its scope itself changed. The hub follows the store's change
log (``Store.changes``), so a publish costs what changed, not the size of the mesh; an
answer is serialized once per (scope, revision the watcher had), however many watchers
wait for it.
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

from ..store import ResourceKey, Store
from ._delta import PushLog, delta
from ._scope import WatchScope

__all__ = ["Debouncer", "Hub", "Published"]

log = logging.getLogger("inmesh.registry")

Document = Mapping[str, Any]

#: A delta of more than ``_FULL_MIN`` keys that touches more than ``_FULL_SHARE`` of the
#: documents is sent as a full snapshot (about as large, and one replace for the client).
_FULL_SHARE = 0.5
_FULL_MIN = 64


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
    """One published revision: its store id, every document by key, and the push log
    the hub keeps (for deltas from earlier revisions)."""

    revision: int
    store_id: str
    index: Mapping[ResourceKey, Document] = field(default_factory=dict)
    log: PushLog | None = None
    #: when the first change it carries happened (the hub's clock), for convergence time
    changed: float = 0.0
    _bodies: dict[tuple[str, int | None], bytes] = field(default_factory=dict, repr=False)

    @property
    def documents(self) -> tuple[Document, ...]:
        """Every document of this revision (resources and registrations; clients order
        them, so this order is not part of the protocol)."""
        return tuple(self.index.values())

    def body(self, scope: WatchScope, since: int | None = None) -> bytes:
        """The JSON watch answer for a watcher with ``scope`` that has revision
        ``since`` of this store (None: it has nothing, or asks for full snapshots): a
        delta when the log reaches back to ``since``, else the full snapshot.

        Serialized once per (scope, since): a thousand watchers of one namespace at the
        previous revision share one answer.
        """
        cached = self._bodies.get((scope.name, since))
        if cached is not None:
            return cached
        if since is not None and self.log is not None:
            spans = self.log.since(since, self.revision)
            if spans is not None and (
                len(spans) <= _FULL_MIN or len(spans) <= _FULL_SHARE * len(self.index)
            ):
                change = delta(spans, scope)
                if change is not None:
                    cached = _encode(
                        {
                            "revision": self.revision,
                            "store": self.store_id,
                            "since": since,
                            "updated": change.updated,
                            "deleted": [
                                {"kind": k.kind, "namespace": k.namespace, "name": k.name}
                                for k in change.deleted
                            ],
                        }
                    )
                    self._bodies[(scope.name, since)] = cached
                    return cached
        full = self._bodies.get((scope.name, None))
        if full is None:
            docs = [d for d in self.index.values() if scope.sees(d)]
            full = _encode(
                {"revision": self.revision, "store": self.store_id, "full": True, "resources": docs}
            )
            self._bodies[(scope.name, None)] = full
        return full


def _encode(answer: Mapping[str, Any]) -> bytes:
    return json.dumps(answer, separators=(",", ":")).encode()


def _version(doc: Document) -> object:
    meta = doc.get("metadata")
    return meta.get("resourceVersion") if isinstance(meta, Mapping) else None


class Hub:
    """Follows the store, debounces, publishes revisions, wakes long-polling watchers.

    Also sweeps expired registrations every ``sweep_interval`` seconds (a no-op on etcd,
    which expires leases itself). ``log_entries`` bounds the push log (changed keys kept
    for deltas).
    """

    def __init__(
        self,
        store: Store,
        *,
        debounce: float = 0.1,
        max_delay: float = 1.0,
        sweep_interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        log_entries: int = 10_000,
    ) -> None:
        self.store = store
        self.debouncer = Debouncer(after=debounce, max_delay=max_delay)
        self.sweep_interval = sweep_interval
        self.clock = clock
        self.log = PushLog(log_entries)
        self.current = Published(revision=0, store_id="", log=self.log)
        self._waiters: dict[asyncio.Future[Published | None], tuple[int, str]] = {}
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._publishing = asyncio.Lock()
        #: answers handed to watchers (``pilot_xds_pushes``)
        self.pushes = 0
        #: publishes that read the whole state (first, a gap in the store's log, a new
        #: store) rather than the store's change log
        self.full_reads = 0
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
        async with self._publishing:  # the push loop and a first contact may race
            current = await self._next(self.current, self.clock() if changed is None else changed)
            if current is None:
                return
            self.current = current
        for waiter, (revision, store_id) in list(self._waiters.items()):
            if current.store_id != store_id or current.revision > revision:
                del self._waiters[waiter]
                if not waiter.done():
                    waiter.set_result(current)
                    self._pushed(current)

    async def _next(self, current: Published, changed: float) -> Published | None:
        """The revision after ``current`` (None: nothing new), from the store's change
        log when it reaches back to ``current``, else from the whole state."""
        changes = None
        if current.store_id and current.store_id == self.store.store_id:
            changes = await self.store.changes(current.revision)
        diff: list[tuple[ResourceKey, Document | None, Document | None]] = []
        if changes is not None:
            if changes.revision <= current.revision:
                return None
            index = dict(current.index)
            for key, doc in changes.documents.items():
                before = index.get(key)
                if doc is None:
                    if before is not None:
                        del index[key]
                        diff.append((key, before, None))
                elif before is None or _version(before) != _version(doc):
                    index[key] = doc
                    diff.append((key, before, doc))
            revision, store_id = changes.revision, current.store_id
        else:
            self.full_reads += 1
            state = await self.store.state()
            index = {r.key: r.document() for r in state.resources}
            index.update((w.key, w.document()) for w in state.workloads)
            revision, store_id = state.revision, state.store_id
            if store_id != current.store_id or revision < current.revision:
                self.log.reset(revision)  # another store: nothing to compare with
            else:  # a gap in the store's log: what changed is what differs
                for key, doc in index.items():
                    before = current.index.get(key)
                    if before is None or _version(before) != _version(doc):
                        diff.append((key, before, doc))
                diff.extend((k, d, None) for k, d in current.index.items() if k not in index)
                if not diff and revision == current.revision:
                    return None
        self.log.record(revision, diff)
        return Published(
            revision=revision, store_id=store_id, index=index, log=self.log, changed=changed
        )

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
