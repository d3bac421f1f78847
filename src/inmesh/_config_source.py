"""Where a Mesh's configuration comes from: paths, loaded resources or plain mappings; and
which pushed resources a configuration error names (the ones a registry push skips)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ._errors import ConfigError
from .config import load_config, parse_documents

ConfigSource = str | os.PathLike[str] | Sequence[Any] | None


def resources_of(config: ConfigSource) -> list[Any]:
    """Resources from a path, a list of paths, or already-loaded resources (or dicts)."""
    if config is None:
        return []
    if isinstance(config, (str, os.PathLike)):
        return list(load_config(config))
    items = list(config)
    from .config._base import Document  # pydantic: every branch below needs it anyway

    if all(isinstance(c, Document) for c in items):
        return items  # loaded (validated) resources: nothing to parse
    if all(isinstance(c, (str, os.PathLike)) for c in items):
        return list(load_config(*items))
    if any(isinstance(c, (str, os.PathLike)) for c in items):
        raise ConfigError("config mixes file paths and resources: pass one or the other")
    return list(parse_documents(items))


def named_by(exc: ConfigError, resources: list[Any]) -> list[tuple[Any, str]]:
    """The resources of ``resources`` that ``exc``'s problems name, with the reasons."""
    by_key = {(r.kind, r.namespace, r.name): r for r in resources}
    out: dict[int, tuple[Any, list[str]]] = {}
    for p in exc.problems:
        r = by_key.get((p.kind, p.namespace, p.name))
        if r is not None:
            out.setdefault(id(r), (r, []))[1].append(
                f"{p.field}: {p.message}" if p.field else p.message
            )
    return [(r, "; ".join(reasons)) for r, reasons in out.values()]
