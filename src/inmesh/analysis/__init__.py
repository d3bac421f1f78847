"""``inmesh analyze``: schema validation plus Istio-style cross-reference analysis.

- :func:`analyze` / :func:`analyze_files`: load files as ``istioctl analyze`` does (an
  invalid document is IST0106 and the rest is still analyzed), then :func:`check`;
- :mod:`._checks` and its siblings: the analyzers, by Istio code;
- :class:`Message`: one finding, printed as istioctl prints it (text, ``to_dict`` for
  ``-o json|yaml``); :func:`sorted_messages` orders them as istioctl does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..config import load_report
from ._checks import check
from ._checks import problem_message as _problem_message
from ._message import LEVELS, Level, Message, at_least, sorted_messages

__all__ = [
    "LEVELS",
    "Analysis",
    "Level",
    "Message",
    "analyze",
    "analyze_files",
    "at_least",
    "check",
    "sorted_messages",
]


@dataclass(frozen=True, slots=True)
class Analysis:
    """What :func:`analyze` found: ``messages`` sorted as istioctl prints them, and
    ``unparsed``, the files that could not be read or parsed (IST0106 too, but istioctl
    counts them apart: they alone give exit status 65, not 79)."""

    messages: tuple[Message, ...]
    unparsed: tuple[Message, ...]


def analyze(paths: Sequence[str | os.PathLike[str]]) -> Analysis:
    """Load every file, continuing past an invalid document (IST0106 for each of its
    problems, as ``istioctl analyze`` does; documents skipped as not mesh resources as
    INM0003 Info), then cross-check everything that loaded (:func:`check`)."""
    report = load_report(*paths, keep_going=True, compact=False)
    unparsed = {id(p) for p in report.unparsed}
    msgs: list[Message] = [
        _problem_message(p, "SchemaValidationError")
        for p in report.problems
        if id(p) not in unparsed
    ]
    resources: list[Any] = report.resources
    msgs.extend(_problem_message(p, "NotAMeshResource", "Info") for p in report.skipped)
    msgs.extend(check(resources, complete=True))
    return Analysis(
        messages=tuple(sorted_messages(msgs)),
        unparsed=tuple(_problem_message(p, "SchemaValidationError") for p in report.unparsed),
    )


def analyze_files(paths: Sequence[str | os.PathLike[str]]) -> list[Message]:
    """Every message :func:`analyze` finds, files that could not be parsed first."""
    result = analyze(paths)
    return [*result.unparsed, *result.messages]
