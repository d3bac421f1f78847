"""The registry's analysis of what it stores, kept across applies.

An apply is analyzed among everything stored (``_validate.py``); rebuilding the
analyzers' indexes over every stored resource on each apply made a one-resource apply
cost what the mesh holds. :class:`StoredAnalysis` keeps one
:class:`~inmesh.analysis._incremental.IncrementalAnalysis` in step with the store (only
the resources whose version changed are re-indexed) and checks an apply's changed
resources in it, with the same messages as the full analysis.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ...analysis import Message
from ...analysis._incremental import IncrementalAnalysis, Key, resource_key
from ..store import ResourceKey, StoredResource

__all__ = ["StoredAnalysis"]


class StoredAnalysis:
    """The kept analysis, and what it holds of each stored key: (stored rather than
    registered, version, the model's key or None when it no longer validates)."""

    def __init__(self, parsed: dict[tuple[ResourceKey, int], Any]) -> None:
        self.analysis = IncrementalAnalysis()
        self._synced: dict[ResourceKey, tuple[bool, int, Key | None]] = {}
        #: the validator's parse cache: an entry is dropped once its version is replaced
        self._parsed = parsed
        self._previous: tuple[list[StoredResource], list[StoredResource]] | None = None
        self._by_key: dict[ResourceKey, StoredResource] = {}

    def sync(
        self,
        workloads: Sequence[StoredResource],
        stored: Sequence[StoredResource],
        model_of: Callable[[StoredResource], Any | None],
    ) -> Mapping[ResourceKey, StoredResource]:
        """Bring the kept analysis to what is stored now (only the resources whose
        version changed since the last sync are parsed, cached, and re-indexed); returns
        the stored resources by key.

        The store answers its state in key order, unchanged resources as the same
        objects: when no key came or went, one pass comparing both states in order finds
        the changed ones without hashing every key."""
        previous, self._previous = self._previous, (list(workloads), list(stored))
        if previous is not None:
            changed = _changed_in_place(previous, (workloads, stored))
            if changed is not None:
                for is_stored, item in changed:
                    if self._synced[item.key][0] == is_stored:  # else a stored one wins
                        self._update(item.key, is_stored, item, model_of)
                    if is_stored:
                        self._by_key[item.key] = item
                return self._by_key
        current = {item.key: (False, item) for item in workloads}
        current.update((item.key, (True, item)) for item in stored)
        for key, (is_stored, item) in current.items():
            known = self._synced.get(key)
            if known is None or known[0] != is_stored or known[1] != item.version:
                self._update(key, is_stored, item, model_of)
        if len(self._synced) != len(current):
            for key in self._synced.keys() - current.keys():
                self._update(key, False, None, model_of)
        self._by_key = {item.key: item for item in stored}
        return self._by_key

    def _update(
        self,
        key: ResourceKey,
        is_stored: bool,
        item: StoredResource | None,
        model_of: Callable[[StoredResource], Any | None],
    ) -> None:
        """Re-index ``key`` as ``item`` (None: gone)."""
        known = self._synced.pop(key, None)
        if known is not None:
            self._parsed.pop((key, known[1]), None)
            if known[2] is not None:
                self.analysis.set(known[2], None)
        if item is None:
            return
        model = model_of(item)
        mkey = None if model is None else resource_key(model)
        if mkey is not None:
            self.analysis.set(mkey, model)
        self._synced[key] = (is_stored, item.version, mkey)

    def check(
        self,
        resources: Sequence[Any],
        workloads: Sequence[StoredResource],
        stored: Sequence[StoredResource],
    ) -> list[Message]:
        """The messages about ``resources`` (an apply's changed ones) among ``stored``
        and the registered ``workloads`` (as last :meth:`sync`-ed), as ``check(every
        resource, focus=...)`` gives them: they are put in for the check and taken out
        after it (the next apply finds them in the store, if they were committed)."""
        analysis = self.analysis
        focus = [resource_key(r) for r in resources]
        previous = [(k, analysis.resources.get(k)) for k in focus]
        for key, r in zip(focus, resources, strict=True):
            analysis.set(key, r)
        try:
            return analysis.check(focus, _Order(workloads, stored, focus))
        finally:
            for key, old in reversed(previous):
                analysis.set(key, old)


def _changed_in_place(
    before: tuple[Sequence[StoredResource], Sequence[StoredResource]],
    after: tuple[Sequence[StoredResource], Sequence[StoredResource]],
) -> list[tuple[bool, StoredResource]] | None:
    """The items of ``after`` (registered workloads, stored resources) whose version
    differs from ``before``'s, when both hold the same keys in the same order; None when
    they do not (a key came or went)."""
    changed: list[tuple[bool, StoredResource]] = []
    for is_stored, old, new in ((False, before[0], after[0]), (True, before[1], after[1])):
        if len(old) != len(new):
            return None
        for a, b in zip(old, new, strict=True):
            if a is b:
                continue
            if a.key != b.key:
                return None
            if a.version != b.version:
                changed.append((is_stored, b))
    return changed


class _Order:
    """The order ``check`` would see the resources in (registered workloads, then what is
    stored, then the new ones of the apply; a key in its first place), built on first use
    only: the analysis asks only when two resources compete."""

    def __init__(
        self,
        workloads: Sequence[StoredResource],
        stored: Sequence[StoredResource],
        focus: Sequence[Key],
    ) -> None:
        self._sources = (workloads, stored, focus)
        self._position: dict[Key, int] | None = None

    def __call__(self, key: Key) -> int:
        if self._position is None:
            workloads, stored, focus = self._sources
            keys: list[Key] = [
                (i.key.kind, i.key.namespace, i.key.name) for i in (*workloads, *stored)
            ]
            keys.extend(focus)
            position: dict[Key, int] = {}
            for i, k in enumerate(keys):
                position.setdefault(k, i)
            self._position = position
        return self._position[key]
