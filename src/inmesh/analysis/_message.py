"""Analyzer messages, printed as ``istioctl analyze`` prints them (text, JSON, YAML)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

Level = Literal["Error", "Warning", "Info"]

#: Levels, worst first (Istio's diag.Level sort order).
LEVELS: tuple[Level, ...] = ("Error", "Warning", "Info")
#: Istio's url.ConfigAnalysis: each code has a page under it.
ANALYSIS_DOCS = "https://istio.io/latest/docs/reference/config/analysis"


@dataclass(frozen=True, slots=True)
class Message:
    """``<level> [<code>] (<kind> <namespace>/<name>) <details>`` (istioctl's format).

    ``file`` (inmesh's addition) is where the resource was read, when it is known.
    """

    level: Level
    code: str
    name: str
    resource: str
    details: str
    file: str | None = None

    def format(self) -> str:
        where = f" ({self.resource})" if self.resource else ""
        src = f" [{self.file}]" if self.file else ""
        return f"{self.level} [{self.code}]{where} {self.details}{src}"

    @property
    def documentation_url(self) -> str | None:
        """Istio's page for an ``IST`` code (``?ref=istioctl-analyze`` as istioctl adds);
        inmesh's own ``INM`` codes are described in docs/cli.md."""
        if not self.code.startswith("IST"):
            return None
        return f"{ANALYSIS_DOCS}/{self.code.lower()}/?ref=istioctl-analyze"

    def to_dict(self) -> dict[str, Any]:
        """The fields ``istioctl analyze -o json|yaml`` prints (diag.Message.Unstructured):
        code, level, origin, reference, message, documentationUrl."""
        out: dict[str, Any] = {"code": self.code, "level": self.level}
        if self.resource:
            out["origin"] = self.resource
        if self.file:
            out["reference"] = self.file
        out["message"] = self.details
        url = self.documentation_url
        if url is not None:
            out["documentationUrl"] = url
        return out


def at_least(level: Level, threshold: Level) -> bool:
    """Whether ``level`` is as bad as ``threshold`` or worse (diag.Level.IsWorseThanOrEqualTo)."""
    return LEVELS.index(level) <= LEVELS.index(threshold)


def _sort_key(m: Message) -> tuple[int, str, int, str, str]:
    # diag.Messages.Sort: level, code, messages without a resource first, the resource as
    # Origin.Comparator() (kind/name/namespace), then the printed message.
    kind, _, full = m.resource.partition(" ")
    namespace, _, name = full.rpartition("/")
    return (
        LEVELS.index(m.level),
        m.code,
        1 if m.resource else 0,
        f"{kind}/{name}/{namespace}",
        m.format(),
    )


def sorted_messages(messages: Iterable[Message]) -> list[Message]:
    """Sorted and deduplicated as ``istioctl analyze`` prints them (SortedDedupedCopy)."""
    out: list[Message] = []
    for m in sorted(messages, key=_sort_key):
        if not out or out[-1].format() != m.format():
            out.append(m)
    return out


def resource_label(r: Any) -> str:
    return f"{r.kind} {r.namespace}/{r.name}"
