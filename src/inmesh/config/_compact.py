"""Compact validated resources: models without a dict each, one copy of equal values.

A validated pydantic model holds its fields in a private ``__dict__`` hash table and a
fresh ``__pydantic_fields_set__`` set; in a 5,000-service mesh those two were half of the
memory its 30,000 resources took, and many sub-messages (a ``{exact: v1}`` header match, a
port, a subset, the metadata a service's resources repeat) occur many times. The models
are frozen, so right after validating a resource the loader rebuilds it once:

- every model with its fields as CPython's shared-key instance attributes (the values
  only, no per-instance hash table: about a third of the size);
- equal ``fields_set`` sets as one shared set (pydantic only reads it on a frozen model;
  ``model_copy`` copies it before changing it);
- empty mappings as one shared empty dict (the fields are typed ``Mapping``, read-only);
- within one load, equal sub-models, tuples and mappings as one shared object
  (hash-consing). Equal means: the same type, the same fields set, and each value the
  same shared object or a scalar of the same type and value (``1``, ``1.0`` and ``True``
  stay apart), so ``==`` and ``exclude_unset`` dumps are unchanged. The table holds only
  hashes and the shared objects, and is dropped with the load. Top-level resources are
  never shared (each keeps its own origin).
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any

from pydantic import BaseModel

__all__ = ["Compactor", "shared_fields_set"]

_SCALARS = frozenset({str, int, float, bool, type(None)})
_FIELDS_SETS: dict[frozenset[str], set[str]] = {}
_GETTERS: dict[type[BaseModel], attrgetter[Any]] = {}
_EMPTY: dict[Any, Any] = {}
_set_attr = object.__setattr__


def shared_fields_set(names: set[str]) -> set[str]:
    """The one process-wide set equal to ``names`` (the distinct sets are few: per model
    class, the combinations of fields that documents set)."""
    key = frozenset(names)
    shared = _FIELDS_SETS.get(key)
    if shared is None:
        shared = _FIELDS_SETS[key] = set(key)
    return shared


def _same(a: Any, b: Any) -> bool:
    """Whether two compacted values are interchangeable: the same object, or scalars of
    the same type and value (children were shared first, so containers compare by
    identity)."""
    return a is b or (type(a) is type(b) and type(a) in _SCALARS and a == b)


def _same_all(a: tuple[Any, ...] | list[Any], b: tuple[Any, ...] | list[Any]) -> bool:
    return len(a) == len(b) and all(map(_same, a, b))


class Compactor:
    """The shared values of one load (nothing is kept across loads)."""

    def __init__(self) -> None:
        #: content hash -> the first value with that hash (a colliding one is not shared)
        self._table: dict[int, Any] = {}

    def resource(self, resource: BaseModel) -> BaseModel:
        """``resource`` rebuilt compactly (a new object equal to it, never shared)."""
        new: BaseModel = self._model(resource, top=True)
        return new

    def _model(self, model: BaseModel, *, top: bool = False) -> Any:
        cls = type(model)
        new = cls.__new__(cls)
        values = []
        for name, value in model.__dict__.items():
            value = self._value(value)
            _set_attr(new, name, value)
            values.append(value)
        fields_set = shared_fields_set(model.__pydantic_fields_set__)
        _set_attr(new, "__pydantic_fields_set__", fields_set)
        extra = model.__pydantic_extra__
        _set_attr(new, "__pydantic_extra__", extra)
        # Sub-models' private attributes (compiled regexes) derive from their fields.
        _set_attr(new, "__pydantic_private__", model.__pydantic_private__)
        if top or extra or not values:
            return new
        key = hash((cls, id(fields_set), *map(_part, values)))
        shared = self._table.setdefault(key, new)
        if shared is new:
            return new
        getter = _GETTERS.get(cls)
        if getter is None:
            getter = _GETTERS[cls] = attrgetter(*model.__dict__)
        old = getter(shared)
        if (
            type(shared) is cls
            and shared.__pydantic_fields_set__ is fields_set
            and shared.__pydantic_extra__ is None
            and _same_all(old if len(values) > 1 else (old,), values)
        ):
            return shared
        return new

    def _value(self, value: Any) -> Any:
        """``value`` compacted, the shared copy of an equal one if this load has one."""
        kind = type(value)
        if kind in _SCALARS:
            return value
        if kind is tuple:
            items = tuple([self._value(item) for item in value])
            return self._shared(items, items) if items else ()
        if kind is dict:
            if not value:
                return _EMPTY
            mapping = {self._value(k): self._value(v) for k, v in value.items()}
            return self._shared(mapping, (*mapping, *mapping.values()))
        if isinstance(value, BaseModel):
            return self._model(value)
        return value

    def _shared(self, value: Any, flat: tuple[Any, ...]) -> Any:
        key = hash((type(value), *map(_part, flat)))
        shared = self._table.setdefault(key, value)
        if shared is value:
            return value
        if type(shared) is type(value) and len(shared) == len(value):
            old = (*shared, *shared.values()) if type(value) is dict else shared
            if _same_all(old, flat):
                return shared
        return value


def _part(value: Any) -> Any:
    """What a value contributes to its container's hash: scalars by value (the equality
    check tells ``1`` from ``True``), anything else by identity (it is a shared copy)."""
    return value if type(value) in _SCALARS else id(value)
