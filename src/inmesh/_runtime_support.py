"""Refuse configuration the runtime cannot honour yet, rather than ignore it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._errors import ConfigError, ConfigProblem
from .config import unsupported_problems


def check_supported(resources: Iterable[Any]) -> None:
    """Raise ConfigError naming every field set in ``resources`` that is not supported yet."""
    problems: list[ConfigProblem] = []
    for r in resources:
        file, document = getattr(r, "origin", (None, None))
        problems.extend(unsupported_problems(r, file=file, document=document))
    if problems:
        raise ConfigError(problems)
