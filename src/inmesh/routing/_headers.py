"""Istio's ``headers`` manipulation (set / add / remove on request and response)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True, slots=True)
class HeaderEdit:
    """One ``HeaderOperations`` block: ``set`` overwrites, ``add`` appends, ``remove`` drops."""

    set: tuple[tuple[str, str], ...] = ()
    add: tuple[tuple[str, str], ...] = ()
    remove: tuple[str, ...] = ()

    def apply(self, headers: httpx.Headers) -> httpx.Headers:
        """Edit ``headers`` in place; return them, or a new object when values are added
        (httpx.Headers has no public append, and ``add`` keeps existing values)."""
        for name in self.remove:
            if name in headers:
                del headers[name]
        for name, value in self.set:
            headers[name] = value
        if self.add:
            headers = httpx.Headers([*headers.multi_items(), *self.add])
        return headers


def _edit(ops: Any) -> HeaderEdit | None:
    if ops is None:
        return None
    edit = HeaderEdit(
        set=tuple((k.lower(), v) for k, v in (ops.set or {}).items()),
        add=tuple((k.lower(), v) for k, v in (ops.add or {}).items()),
        remove=tuple(k.lower() for k in ops.remove or ()),
    )
    return edit if (edit.set or edit.add or edit.remove) else None


@dataclass(frozen=True, slots=True)
class HeaderRules:
    """Request and response edits of one ``Headers`` block."""

    request: HeaderEdit | None
    response: HeaderEdit | None

    @staticmethod
    def of(headers: Any) -> HeaderRules | None:
        if headers is None:
            return None
        rules = HeaderRules(_edit(headers.request), _edit(headers.response))
        return rules if (rules.request or rules.response) else None


def apply_edits(edits: Sequence[HeaderEdit | None], headers: httpx.Headers) -> httpx.Headers:
    """Apply edits in order and return the headers. Callers pass the most specific first
    (destination, then route): Envoy applies weighted-cluster mutations before route ones,
    so the route's ``set`` wins."""
    for e in edits:
        if e is not None:
            headers = e.apply(headers)
    return headers
