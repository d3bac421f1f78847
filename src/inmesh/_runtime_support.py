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
        problems.extend(unsupported_problems(r))  # it names the origin of what it reports
    if problems:
        raise ConfigError(problems)
