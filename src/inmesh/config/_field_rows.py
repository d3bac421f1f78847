"""Every field of a kind, walked from its pydantic models, with its status in the support table.

A :class:`FieldRow` per field below ``spec``: its dotted camelCase path (``[]`` for lists,
``.*`` for maps), its type as the docs render it, and its status (:data:`FIELD_STATUS`,
else its parent's, the kind's at ``spec``). ``docs/configuration.md`` is generated from
these rows and :func:`~inmesh.config._support.unsupported_fields` selects from them, so
this is the only place that reads the models' annotations. A kind's models are imported
when its rows are first asked for.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from inmesh.config._support import FIELD_STATUS, KIND_STATUS

if TYPE_CHECKING:
    from pydantic import BaseModel
    from pydantic.fields import FieldInfo

__all__ = ["FieldRow", "describe_type", "field_rows", "kind_spec"]


@dataclass(frozen=True, slots=True)
class FieldRow:
    """One field of a kind: its dotted camelCase path, type, status, and the model below it."""

    path: str
    type_name: str
    status: str
    model: type[BaseModel] | None = None
    same_as: str | None = None


def _strip(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return _strip(args[0])
    return annotation


def _is_duration(annotation: Any, field: FieldInfo | None = None) -> bool:
    metadata = list(field.metadata) if field is not None else []
    stack = [annotation]
    while stack:
        current = stack.pop()
        if typing.get_origin(current) is typing.Annotated:
            metadata.extend(typing.get_args(current)[1:])
            stack.append(typing.get_args(current)[0])
        else:
            stack.extend(typing.get_args(current))
    return any("duration" in getattr(getattr(m, "func", None), "__name__", "") for m in metadata)


def describe_type(annotation: Any, field: FieldInfo | None = None) -> tuple[str, str, Any]:
    """(rendered type, path suffix, inner type): ``[]`` for lists, ``.*`` for maps."""
    if _is_duration(annotation, field):
        return "duration", "", None
    inner = _strip(annotation)
    if inner is Any:  # repr differs across Python versions ("typing.Any" vs "Any")
        return "Any", "", None
    origin = typing.get_origin(inner)
    if origin is tuple:
        name, _, _ = describe_type(typing.get_args(inner)[0])
        return f"[]{name}", "[]", _strip(typing.get_args(inner)[0])
    if origin in (Mapping, dict, typing.get_origin(Mapping[str, str])):
        key, value = typing.get_args(inner)
        name, _, _ = describe_type(value)
        return f"map<{describe_type(key)[0]}, {name}>", ".*", _strip(value)
    if origin is typing.Literal:
        return "enum: " + ", ".join(str(a) for a in typing.get_args(inner)), "", None
    if isinstance(inner, type):
        simple = {str: "string", int: "int", float: "float", bool: "bool"}
        return simple.get(inner, inner.__name__), "", inner
    args = [describe_type(a)[0] for a in typing.get_args(inner) if a is not type(None)]
    return " | ".join(args) or str(inner), "", None


def _walk(
    model: type[BaseModel],
    path: str,
    status: str,
    rows: list[FieldRow],
    seen: dict[tuple[type[BaseModel], str], str] | None,
) -> None:
    for name, field in model.model_fields.items():
        alias = field.alias or name
        field_status = FIELD_STATUS.get((model.__name__, alias), status)
        here = f"{path}.{alias}"
        rendered, suffix, inner = describe_type(field.annotation, field)
        sub = inner if isinstance(inner, type) and hasattr(inner, "model_fields") else None
        if sub is None:
            rows.append(FieldRow(here, rendered, field_status))
            continue
        if seen is not None and (sub, field_status) in seen:
            rows.append(FieldRow(here, rendered, field_status, sub, seen[(sub, field_status)]))
            continue
        if seen is not None:
            seen[(sub, field_status)] = here + suffix
        rows.append(FieldRow(here, rendered, field_status, sub))
        _walk(sub, here + suffix, field_status, rows, seen)


def kind_spec(kind: str) -> type[BaseModel]:
    """The ``spec`` model of ``kind`` (a kind of :data:`KIND_STATUS`; its module is
    imported now)."""
    from inmesh.config._kinds import kind_class

    cls = kind_class(kind)
    if cls is None or kind not in KIND_STATUS:
        raise KeyError(kind)
    spec: type[BaseModel] = _strip(cls.model_fields["spec"].annotation)
    return spec


def field_rows(kind: str, *, collapse: bool = True) -> list[FieldRow]:
    """Every field of ``kind`` below ``spec``; with ``collapse`` a message already listed
    with the same status is referred to (``same_as``) instead of listed again."""
    rows: list[FieldRow] = []
    _walk(kind_spec(kind), "spec", KIND_STATUS[kind], rows, {} if collapse else None)
    return rows
