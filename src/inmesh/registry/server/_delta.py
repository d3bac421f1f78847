"""Incremental push, the pure part: the log of published changes and a watcher's delta.

Istio's istiod pushes a proxy only what changed (incremental xDS: ``ConfigsUpdated`` on a
push request names the changed configs by kind, namespace and name) and a full push on a
new connection. Here every publish records, per changed key, the document before and after
(:class:`PushLog`); a watcher that has revision ``R`` gets the net change since ``R``
filtered by its scope (:func:`delta`): a document it sees now is *updated*, one it saw
at ``R`` and no longer sees (deleted, or no longer exported to it) is *deleted*, and one
it saw neither before nor after is not mentioned at all, so a watcher never learns the
name of a resource outside its scope.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..store import ResourceKey
from ._scope import WatchScope

__all__ = ["Change", "Delta", "PushLog", "delta"]

Document = Mapping[str, Any]
#: one key's net change over a range of revisions: (document before, document after)
Span = tuple[Document | None, Document | None]


@dataclass(frozen=True, slots=True)
class Change:
    """One key's change at one published revision (None: absent)."""

    revision: int
    key: ResourceKey
    before: Document | None
    after: Document | None


class PushLog:
    """The changes of the last ``max_entries`` published keys, oldest first.

    Complete for every revision after :attr:`start`: a delta can be computed for a
    watcher whose revision is at least ``start``; an older one gets a full snapshot (the
    log was compacted past it, or the hub started after it).
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self.start = 0
        self.revision = 0
        self._entries: deque[Change] = deque()

    def __len__(self) -> int:
        return len(self._entries)

    def reset(self, revision: int) -> None:
        """Forget everything before ``revision`` (a new store, or a hub's start)."""
        self._entries.clear()
        self.start = self.revision = revision

    def record(
        self,
        revision: int,
        changes: Iterable[tuple[ResourceKey, Document | None, Document | None]],
    ) -> None:
        """Append the changes published at ``revision``, then compact."""
        for key, before, after in changes:
            self._entries.append(Change(revision, key, before, after))
        self.revision = max(self.revision, revision)
        while len(self._entries) > self.max_entries:
            # a revision missing some of its changes cannot be answered: drop it whole
            self.start = self._entries.popleft().revision
            while self._entries and self._entries[0].revision <= self.start:
                self._entries.popleft()

    def since(self, since: int, upto: int) -> dict[ResourceKey, Span] | None:
        """The net change of each key after ``since`` up to ``upto`` (before: as at
        ``since``; after: as at ``upto``), or None when the log cannot tell."""
        if since < self.start or since > upto or upto > self.revision:
            return None
        spans: dict[ResourceKey, Span] = {}
        for change in reversed(self._entries):
            if change.revision > upto:
                continue
            if change.revision <= since:
                break
            old = spans.get(change.key)
            # walking back in time: the first seen is the latest ("after"), and each
            # earlier one moves "before" further back
            spans[change.key] = (change.before, change.after if old is None else old[1])
        return spans


@dataclass(frozen=True, slots=True)
class Delta:
    """What one watcher applies to go from one revision to the next."""

    updated: tuple[Document, ...]
    deleted: tuple[ResourceKey, ...]


def delta(spans: Mapping[ResourceKey, Span], scope: WatchScope) -> Delta | None:
    """``spans`` as ``scope`` sees them, or None when the scope itself changed (a
    resource it depends on is among them): then only a full snapshot is right."""
    if any(scope.depends_on(key) for key in spans):
        return None
    updated: list[Document] = []
    deleted: list[ResourceKey] = []
    for key, (before, after) in spans.items():
        if after is not None and scope.sees(after):
            updated.append(after)
        elif before is not None and scope.sees(before):
            deleted.append(key)
    return Delta(tuple(updated), tuple(deleted))
