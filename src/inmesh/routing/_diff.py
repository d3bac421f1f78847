"""The diff a compile starts from: the configuration given, one resource per
kind/namespace/name, against the last good compile's, by object identity first.

Pure functions over the compiler's bookkeeping (committed keys by object id, positions),
so each is tested and timed alone.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping
from typing import Any

from ._index import Key, key_of

__all__ = ["latest", "positions", "same_shape"]


def latest(
    resources: Iterable[Any], key_by_id: Mapping[int, Key]
) -> tuple[dict[Key, Any], list[Key]]:
    """One resource per key, the last given winning, as successive ``kubectl apply``
    runs leave it (Bookinfo's tasks apply ``virtual-service-all-v1.yaml`` and then a
    file that replaces the ``ratings`` VirtualService); a replaced resource keeps its
    place (its creation time, which Istio orders by). Also the keys of the objects the
    last compile did not have (the candidates for a change). The committed objects are
    known by identity, so an unchanged resource costs a dict lookup, not a key computed
    from its metadata."""
    items = resources if isinstance(resources, list) else list(resources)
    keys: list[Key | None] = list(map(key_by_id.get, map(id, items)))
    fresh: list[Key] = []
    for i, k in enumerate(keys):
        if k is None:
            k = keys[i] = key_of(items[i])
            fresh.append(k)
    return dict(zip(keys, items, strict=True)), fresh  # type: ignore[arg-type]


def positions(
    new: Mapping[Key, Any], pos: Mapping[Key, float], end: float
) -> dict[Key, float] | None:
    """Positions for the keys the last compile did not have, between their
    neighbours' (Istio orders by creation time; here the order given stands in for
    it), or None when the kept keys changed order (then everything is rebuilt)."""
    ps = list(map(pos.get, new))
    kept = [p for p in ps if p is not None]
    if kept != sorted(kept):
        return None
    if len(kept) == len(ps):
        return {}
    out: dict[Key, float] = {}
    keys = list(new)
    i = 0
    while i < len(ps):
        if ps[i] is not None:
            i += 1
            continue
        j = i
        while j < len(ps) and ps[j] is None:
            j += 1
        lo = ps[i - 1] if i > 0 else -1.0
        hi = ps[j] if j < len(ps) else end + (j - i)
        step = (hi - lo) / (j - i + 1)  # type: ignore[operator]
        for n in range(i, j):
            at = lo + step * (n - i + 1)  # type: ignore[operator]
            if not lo < at < hi:  # type: ignore[operator]
                return None  # no room left between two floats: renumber
            out[keys[n]] = at
        i = j
    return out


def same_shape(
    items: list[Any], prev: list[Any], by_key: dict[Key, Any]
) -> tuple[dict[Key, Any], list[Key]] | None:
    """The common case, fast: the list of the last compile with a few objects replaced
    in place by new versions of the same resources (``Mesh.apply`` of one edit). Then
    the new mapping is the old one with those entries replaced, in C-speed passes."""
    if len(items) != len(prev) or len(prev) != len(by_key):
        return None
    differ = list(map(operator.is_not, items, prev))
    new: dict[Key, Any] | None = None
    fresh: list[Key] = []
    i = -1
    while True:
        try:
            i = differ.index(True, i + 1)
        except ValueError:
            break
        k = key_of(items[i])
        if k != key_of(prev[i]):
            return None  # not an in-place edit: the general path
        if new is None:
            new = dict(by_key)
        new[k] = items[i]
        fresh.append(k)
        if len(fresh) > 64:
            return None  # a large change: the general path is as fast
    return (new if new is not None else by_key), fresh
