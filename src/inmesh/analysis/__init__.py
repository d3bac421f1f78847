"""``inmesh analyze``: schema validation plus Istio-style cross-reference analysis."""

from __future__ import annotations

import os
from collections.abc import Sequence

from .._errors import ConfigError
from ..config import load_config
from ._checks import check
from ._message import Message

__all__ = ["Message", "analyze_files", "check"]


def analyze_files(paths: Sequence[str | os.PathLike[str]]) -> list[Message]:
    """Load every file (schema errors as IST0106), then cross-check what loaded."""
    msgs: list[Message] = []
    resources = []
    for path in paths:
        try:
            resources.extend(load_config(path))
        except ConfigError as exc:
            for p in exc.problems:
                msgs.append(
                    Message(
                        "Error",
                        p.code,
                        "SchemaValidationError",
                        p.resource or "",
                        f"{p.field + ': ' if p.field else ''}{p.message}",
                        file=f"{p.file}" + (f" document {p.document}" if p.document else ""),
                    )
                )
    msgs.extend(check(resources))
    return msgs
