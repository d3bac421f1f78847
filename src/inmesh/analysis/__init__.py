"""``inmesh analyze``: schema validation plus Istio-style cross-reference analysis."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from .._errors import ConfigError
from ..config import load_report
from ._checks import check
from ._checks import problem_message as _problem_message
from ._message import Message

__all__ = ["Message", "analyze_files", "check"]


def analyze_files(paths: Sequence[str | os.PathLike[str]]) -> list[Message]:
    """Load every file (schema errors as IST0106; documents skipped as not mesh resources
    as INM0003 Info), then cross-check what loaded (:func:`check`)."""
    msgs: list[Message] = []
    resources: list[Any] = []
    for path in paths:
        try:
            report = load_report(path)
        except ConfigError as exc:
            msgs.extend(_problem_message(p, "SchemaValidationError") for p in exc.problems)
            continue
        resources.extend(report.resources)
        msgs.extend(_problem_message(p, "NotAMeshResource", "Info") for p in report.skipped)
    msgs.extend(check(resources))
    return msgs
