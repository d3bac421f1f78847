"""Finding the values at support-table paths (``spec.http[].corsPolicy``) in a loaded
model, without dumping it first.

``model_dump`` of every resource and one walk per path on every compile was most of the
support check's cost (and so of a Mesh's compile). Here a kind's paths are merged into one
tree and the model is walked once, stopping at every unset field (almost always near the
top). Locations and values are those of ``model_dump(by_alias=True, exclude_none=True)``:
camelCase names, list indexes, map keys (``[]``: every list item, ``*``: every map value);
a nested message that sets nothing counts as absent (its dump is ``{}``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from inmesh.config._loc import Loc

__all__ = ["PathTree", "path_tree"]

#: model class -> camelCase (alias) name -> attribute name; None for a non-model type
_ATTRIBUTES: dict[type[Any], Mapping[str, str] | None] = {}


def _attributes(cls: type[Any]) -> Mapping[str, str] | None:
    try:
        return _ATTRIBUTES[cls]
    except KeyError:
        fields = getattr(cls, "__pydantic_fields__", None)
        attrs = (
            {(f.alias or name): name for name, f in fields.items()}
            if isinstance(fields, dict)
            else None
        )
        _ATTRIBUTES[cls] = attrs
        return attrs


def _segments(path: str) -> list[str]:
    out: list[str] = []
    for part in path.split("."):
        if part.endswith("[]"):
            out.extend((part[:-2], "[]"))
        else:
            out.append(part)
    return out


def _dumped(value: Any) -> Any:
    """A leaf as the dump has it: a nested model becomes its (exclude_none) dump."""
    if _attributes(type(value)) is not None:
        return value.model_dump(by_alias=True, exclude_none=True)
    return value


class PathTree:
    """Several paths merged by their common prefixes; a leaf carries its path's tags."""

    __slots__ = ("children", "plans", "tags")

    def __init__(self) -> None:
        self.children: dict[str, PathTree] = {}
        self.tags: list[Any] = []
        #: model class -> (attribute, camelCase name, child) of the children it has
        self.plans: dict[type[Any], tuple[tuple[str, str, PathTree], ...]] = {}

    def find(self, model: Any) -> list[tuple[Any, Loc, Any]]:
        """``(tag, location, value)`` of every value set at the tree's paths in ``model``,
        in the order the paths were added per location."""
        out: list[tuple[Any, Loc, Any]] = []
        self._find(model, (), out)
        return out

    def _plan(
        self, cls: type[Any], attrs: Mapping[str, str]
    ) -> tuple[tuple[str, str, PathTree], ...]:
        """The children a ``cls`` model (its ``attrs``: :func:`_attributes`) has, in the
        tree's order, as attribute names."""
        plan = tuple(
            (attrs[head], head, child) for head, child in self.children.items() if head in attrs
        )
        self.plans[cls] = plan
        return plan

    def _find(self, value: Any, loc: Loc, out: list[tuple[Any, Loc, Any]]) -> None:
        if value is None:
            return
        if self.tags:
            dumped = _dumped(value)
            out.extend((tag, loc, dumped) for tag in self.tags)
        if not self.children:
            return
        cls = type(value)
        plan = self.plans.get(cls)
        if plan is None:
            attrs = _attributes(cls)
            if attrs is not None:
                plan = self._plan(cls, attrs)
        if plan is not None:
            # A model: only its fields can be at a path ('[]' and '*' never are). A child
            # without tags finds nothing in a falsy value (None, an empty list or map, a
            # zero or empty scalar: no fields, items or keys), so it is not visited.
            for name, head, child in plan:
                item = getattr(value, name)
                if item or child.tags:
                    child._find(item, (*loc, head), out)
            return
        for head, child in self.children.items():
            if head == "[]":
                if isinstance(value, (list, tuple)):
                    for i, item in enumerate(value):
                        child._find(item, (*loc, i), out)
            elif head == "*":
                if isinstance(value, Mapping):
                    for key, item in value.items():
                        child._find(item, (*loc, str(key)), out)
            elif isinstance(value, Mapping) and head in value:
                child._find(value[head], (*loc, head), out)


def path_tree(paths: Iterable[tuple[str, Any]]) -> PathTree:
    """The tree of ``(path, tag)`` pairs."""
    root = PathTree()
    for path, tag in paths:
        node = root
        for seg in _segments(path):
            node = node.children.setdefault(seg, PathTree())
        node.tags.append(tag)
    return root
