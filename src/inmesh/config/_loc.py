"""Field locations: ``("spec", "http", 0)``, its dotted form ``spec.http[0]``, and finding
the values at a table path (``spec.http[].corsPolicy``) in a document, or at several paths
in one walk (:func:`find_many`)."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

__all__ = ["Loc", "find_many", "find_values", "format_loc"]

Loc = tuple[str | int, ...]
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def format_loc(loc: Sequence[str | int]) -> str:
    """``("spec", "http", 0, "route", 1, "weight")`` -> ``spec.http[0].route[1].weight``.

    Map keys that are not identifiers are bracketed: ``headers["end-user"]``.
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]".replace("'", '"')
    return out


def _segments(path: str) -> list[str]:
    out: list[str] = []
    for part in path.split("."):
        if part.endswith("[]"):
            out.extend((part[:-2], "[]"))
        else:
            out.append(part)
    return out


def _find(value: Any, segments: list[str], loc: Loc) -> Iterator[tuple[Loc, Any]]:
    """Values at ``segments`` (``[]`` = every list item, ``*`` = every map value) in ``value``."""
    if not segments:
        yield loc, value
        return
    head, rest = segments[0], segments[1:]
    if head == "[]" and isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _find(item, rest, (*loc, i))
    elif head == "*" and isinstance(value, Mapping):
        for key, item in value.items():
            yield from _find(item, rest, (*loc, str(key)))
    elif isinstance(value, Mapping) and head in value:
        yield from _find(value[head], rest, (*loc, head))


def find_values(data: Any, path: str) -> Iterator[tuple[Loc, Any]]:
    """``(location, value)`` of every value at ``path`` in ``data`` (``[]``: every list
    item, ``*``: every map value)."""
    return _find(data, _segments(path), ())


#: The key of a trie node listing the paths (by index) that end there.
_END = ""


@functools.cache
def _trie(paths: tuple[str, ...]) -> dict[str, Any]:
    """The paths as a trie of segments; ``node[_END]`` lists the indexes of paths ending at
    ``node``."""
    root: dict[str, Any] = {}
    for index, path in enumerate(paths):
        node = root
        for segment in _segments(path):
            node = node.setdefault(segment, {})
        node.setdefault(_END, []).append(index)
    return root


def _collect(value: Any, node: dict[str, Any], loc: Loc, out: list[list[tuple[Loc, Any]]]) -> None:
    for head, child in node.items():
        if head == _END:
            for index in child:
                out[index].append((loc, value))
        elif head == "[]":
            if isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    _collect(item, child, (*loc, i), out)
        elif head == "*":
            if isinstance(value, Mapping):
                for key, item in value.items():
                    _collect(item, child, (*loc, str(key)), out)
        elif isinstance(value, Mapping) and head in value:
            _collect(value[head], child, (*loc, head), out)


def find_many(data: Any, paths: tuple[str, ...]) -> list[list[tuple[Loc, Any]]]:
    """:func:`find_values` for each of ``paths``, in one walk of ``data`` (the paths share
    their prefixes): item ``i`` lists what ``paths[i]`` finds, in the same order."""
    out: list[list[tuple[Loc, Any]]] = [[] for _ in paths]
    _collect(data, _trie(paths), (), out)
    return out
