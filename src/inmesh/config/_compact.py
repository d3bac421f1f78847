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
  very same object: children are shared before their parents, strings are the load's
  copies and integers and floats the load's one object per value, so equal values are the same
  object (``1``, ``1.0`` and ``True`` stay apart, being different objects), and ``==``
  and ``exclude_unset`` dumps are unchanged. The key is a hash of the values' identities
  (no Python-level pass over them) and a hit is checked value by value by identity, so a
  hash collision is never shared. The table holds only hashes and the shared objects
  (which keep every identity it hashed alive), and is dropped with the load. Top-level
  resources are never shared (each keeps its own origin);
- strings as copies, one per distinct string of the load: a model would otherwise hold
  the very string objects of the parsed documents, scattered over the allocator's arenas
  among the documents' dicts, and keep those arenas (a 5,000-service mesh's documents
  are 58 MB) from being returned to the system once the documents are dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from itertools import repeat
from operator import attrgetter, is_
from typing import Any

from pydantic import BaseModel

__all__ = ["Compactor", "shared_fields_set"]

#: scalars kept as they are (strings are copied: see ``_str``; integers and floats, such
#: as every duration, are made one object per value)
_KEPT = frozenset({bool, type(None)})
_FIELDS_SETS: dict[frozenset[str], set[str]] = {}
_GETTERS: dict[type[BaseModel], attrgetter[Any]] = {}
_EMPTY: dict[Any, Any] = {}
_MODELS: set[type[BaseModel]] = set()
_set_attr = object.__setattr__
_consume: Callable[[Iterable[object]], None] = deque[object](maxlen=0).extend
_new = object.__new__


def shared_fields_set(names: set[str]) -> set[str]:
    """The one process-wide set equal to ``names`` (the distinct sets are few: per model
    class, the combinations of fields that documents set)."""
    key = frozenset(names)
    shared = _FIELDS_SETS.get(key)
    if shared is None:
        shared = _FIELDS_SETS[key] = set(key)
    return shared


class Compactor:
    """The shared values of one load (nothing is kept across loads).

    The walk is written for speed (it runs over every value of every resource loaded):
    strings and scalars are handled inline, not through a call each, and keys are hashed
    from the values' identities in C."""

    def __init__(self) -> None:
        #: identity hash -> the first value with that hash (a colliding one is not shared)
        self._table: dict[int, Any] = {}
        self._strs: dict[str, str] = {}
        self._ints: dict[int, int] = {}
        #: apart from the integers (``1 == 1.0``); zero kept as it is (``-0.0 == 0.0``)
        self._floats: dict[float, float] = {}

    def resource(self, resource: BaseModel) -> BaseModel:
        """``resource`` rebuilt compactly (a new object equal to it, never shared)."""
        new: BaseModel = self._model(resource, True)
        return new

    def _model(self, model: BaseModel, top: bool = False) -> Any:
        cls = type(model)
        fields = model.__dict__
        strs = self._strs
        values: list[Any] = []
        append = values.append
        for v in fields.values():
            if v is None:  # most values: every unset optional field
                append(v)
                continue
            kind = type(v)
            if kind is str:
                shared_str = strs.get(v)
                if shared_str is None:
                    shared_str = strs[v] = "".join(("", v))  # a copy: see the module docstring
                append(shared_str)
            elif kind in _KEPT:
                append(v)
            elif not v and (kind is tuple or kind is dict):  # a default, mostly
                append(v if kind is tuple else _EMPTY)
            elif kind in _MODELS:
                append(self._model(v))
            elif kind is int:
                append(self._ints.setdefault(v, v))
            elif kind is float:
                append(self._floats.setdefault(v, v) if v else v)
            else:
                append(self._value(v))
        extra = model.__pydantic_extra__
        fields_set = model.__pydantic_fields_set__
        key = None
        if not extra:  # with extra fields, the set names them: user data, not shared
            fields_set = shared_fields_set(fields_set)
            if not top:
                key = hash((cls, id(fields_set), *map(id, values)))
                shared = self._table.get(key)
                if (
                    shared is not None
                    and type(shared) is cls
                    and shared.__pydantic_fields_set__ is fields_set
                    and _holds(shared, cls, values)
                ):
                    return shared
        new = _new(cls)
        _consume(map(_set_attr, repeat(new), fields, values))
        _set_attr(new, "__pydantic_fields_set__", fields_set)
        _set_attr(new, "__pydantic_extra__", extra)
        # Sub-models' private attributes (compiled regexes) derive from their fields.
        _set_attr(new, "__pydantic_private__", model.__pydantic_private__)
        if key is not None:
            self._table.setdefault(key, new)
        return new

    def _value(self, value: Any) -> Any:
        """``value`` compacted, the shared copy of an equal one if this load has one."""
        kind = type(value)
        if kind is str:
            return self._str(value)
        if kind in _MODELS:
            return self._model(value)
        if kind is tuple:
            if not value:
                return value
            items = tuple([self._item(v) for v in value])
            return self._shared(items, items)
        if kind is dict:
            if not value:
                return _EMPTY
            mapping = {
                (self._strs.get(k) or self._str(k)) if type(k) is str else k: self._item(v)
                for k, v in value.items()
            }
            return self._shared(mapping, (*mapping, *mapping.values()))
        if kind is int:
            return self._ints.setdefault(value, value)
        if kind is float:
            return self._floats.setdefault(value, value) if value else value
        if isinstance(value, BaseModel):
            _MODELS.add(kind)
            return self._model(value)
        return value

    def _item(self, value: Any) -> Any:
        """An item of a tuple or mapping, compacted."""
        kind = type(value)
        if kind in _KEPT:
            return value
        if kind is str:
            return self._strs.get(value) or self._str(value)
        return self._value(value)

    def _str(self, value: str) -> str:
        """The load's copy of ``value`` (a new object: see the module docstring)."""
        shared = self._strs.get(value)
        if shared is None:
            shared = self._strs[value] = "".join(("", value))
        return shared

    def _shared(self, value: Any, flat: tuple[Any, ...]) -> Any:
        key = hash((type(value), *map(id, flat)))
        shared = self._table.setdefault(key, value)
        if shared is value:
            return value
        if type(shared) is type(value) and len(shared) == len(value):
            old = (*shared, *shared.values()) if type(value) is dict else shared
            if all(map(is_, old, flat)):
                return shared
        return value


def _holds(shared: Any, cls: type[BaseModel], values: list[Any]) -> bool:
    """Whether ``shared`` (a ``cls`` with the same fields set) holds these very values."""
    if not values:
        return True
    getter = _GETTERS.get(cls)
    if getter is None:
        getter = _GETTERS[cls] = attrgetter(*cls.model_fields)
    old = getter(shared)
    if len(values) == 1:
        return old is values[0]
    return all(map(is_, old, values))
