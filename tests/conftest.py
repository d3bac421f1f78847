"""For every test run: at the end, say which tests were skipped, why, and how to run them
(a fresh clone skips the conformance tests, which need Istio's Bookinfo corpus)."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from tests.skips import Skip, summarize


def _reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # (path, line, "Skipped: reason") for skips
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter,
) -> Generator[None, None, None]:
    """Outermost, so that it prints after pytest's own summaries, just before the counts."""
    yield
    reports = terminalreporter.stats.get("skipped", [])
    skips = [Skip(r.nodeid, _reason(r)) for r in reports if isinstance(r, pytest.TestReport)]
    if not skips:
        return
    terminalreporter.section("skipped tests: why, and how to run them", yellow=True)
    for line in summarize(skips):
        terminalreporter.write_line(line)
