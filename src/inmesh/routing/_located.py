"""Errors raised while compiling one resource, located in that resource."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from .._errors import ConfigError


@contextmanager
def located(resource: Any | None, field_prefix: str) -> Iterator[None]:
    """Name ``resource`` (its file, document, kind, namespace, name) and the field prefix in
    the problems of a ConfigError raised while compiling it (policy objects validate
    their values without knowing where they came from)."""
    try:
        yield
    except ConfigError as exc:
        if resource is None:
            raise
        file, document = getattr(resource, "origin", (None, None))
        raise ConfigError(
            [
                replace(
                    p,
                    file=p.file or file,
                    document=p.document or document,
                    kind=p.kind or resource.kind,
                    namespace=p.namespace or resource.namespace,
                    name=p.name or resource.name,
                    field=p.field
                    if p.field and p.field.startswith("spec")
                    else f"{field_prefix}.{p.field}"
                    if p.field
                    else field_prefix,
                )
                for p in exc.problems
            ]
        ) from None
