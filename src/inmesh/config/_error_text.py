"""The text of a validation problem: one pydantic error as what the loader reports.

Types are named as YAML writes them ("expected a mapping, got str"), an unknown field
lists the fields allowed there (with the closest one as a hint), and a rule's own message
is kept as written.
"""

from __future__ import annotations

import types
import typing
from typing import TYPE_CHECKING, Any

from inmesh.config._loc import Loc

if TYPE_CHECKING:
    from pydantic import BaseModel
    from pydantic_core import ErrorDetails

__all__ = ["describe"]

_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "a boolean (true/false)",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "tuple_type": "a list",
    "list_type": "a list",
    "mapping_type": "a mapping",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "datetime_parsing": "a timestamp",
    "datetime_type": "a timestamp",
}


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``X | None`` to reach the model or container type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return None
            annotation = args[0]
        else:
            return annotation


def _model_at(cls: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model class at ``loc`` inside ``cls`` (following aliases, lists and maps)."""
    from pydantic import BaseModel

    current: Any = cls
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = {(f.alias or n): f for n, f in current.model_fields.items()}
            field = fields.get(str(part)) or current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
            continue
        args = typing.get_args(current)
        if not args:
            return None
        current = args[-1] if typing.get_origin(current) is not tuple else args[0]
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def describe(err: ErrorDetails, cls: type[BaseModel], loc: Loc) -> str:
    """One pydantic error as the message a problem carries (its location is separate)."""
    kind, value = err["type"], err.get("input")
    shown = (
        f"{value!r}"
        if isinstance(value, (str, int, float, bool)) or value is None
        else (type(value).__name__)
    )
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        parent = _model_at(cls, loc[:-1])
        if parent is None:
            return f"unknown field {loc[-1]!r}"
        import difflib

        allowed = sorted(f.alias or n for n, f in parent.model_fields.items())
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown field {loc[-1]!r}{hint} (expected one of: {', '.join(allowed)})"
    if kind == "literal_error":
        return f"expected {err.get('ctx', {}).get('expected')}, got {shown}"
    if kind in _TYPE_NAMES:
        quote = _TYPE_NAMES[kind] == "a string" and value is not None
        hint = " (quote it in YAML)" if quote else ""
        return f"expected {_TYPE_NAMES[kind]}, got {shown}{hint}"
    message = err["msg"].removeprefix("Value error, ")
    if kind in ("value_error", "assertion_error"):
        return message
    return f"{message[:1].lower()}{message[1:]} (got {shown})"
