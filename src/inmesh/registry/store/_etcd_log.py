"""The etcd store's change log: the events its watch delivers, kept in memory.

etcd keeps its own history (every revision until a compaction), and its watch replays it
in order; this keeps the last ``max_entries`` events so the push loop can ask "what
changed after revision R" without reading the whole state, as istiod's incremental push
follows the events of its informers. A pure structure: the store feeds it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from ._base import ChangeNotifier, ResourceKey

__all__ = ["EventLog"]

Json = dict[str, Any]


class EventLog:
    """Events as (mod_revision, key, kv or None for a delete), oldest first; complete
    for every revision after :attr:`start` up to :attr:`revision`."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.start = 0
        self.progress = ChangeNotifier()
        self._events: deque[tuple[int, ResourceKey, Json | None]] = deque()

    @property
    def revision(self) -> int:
        return self.progress.revision

    def __len__(self) -> int:
        return len(self._events)

    def restart(self, revision: int) -> None:
        """Forget everything: the log is complete again only for changes after ``revision``
        (at open, and after a compaction cut into the watch)."""
        self._events.clear()
        self.start = revision
        self.progress.advance(revision)

    def record(
        self,
        events: Sequence[Json],
        revision: int,
        key_of: Callable[[str], ResourceKey | None],
    ) -> None:
        """Append one watch response's events (etcd's JSON: ``kv``, ``type``), then
        compact to ``max_entries``; keys ``key_of`` does not know are skipped."""
        for event in events:
            kv = event["kv"]
            key = key_of(kv["key"])
            if key is not None:
                deleted = event.get("type") == "DELETE"
                self._events.append((int(kv["mod_revision"]), key, None if deleted else kv))
        while len(self._events) > self.max_entries:
            # Dropping part of a revision makes that whole revision unanswerable.
            self.start = self._events.popleft()[0]
            while self._events and self._events[0][0] <= self.start:
                self._events.popleft()
        self.progress.advance(revision)

    def since(self, since: int) -> dict[ResourceKey, Json | None] | None:
        """The latest event of each key changed after ``since`` (kv, or None: deleted),
        or None when the log does not reach back that far (or ``since`` is ahead of it)."""
        if since < self.start or since > self.revision:
            return None
        latest: dict[ResourceKey, Json | None] = {}
        for mod_revision, key, kv in reversed(self._events):
            if mod_revision <= since:
                break
            latest.setdefault(key, kv)
        return latest
