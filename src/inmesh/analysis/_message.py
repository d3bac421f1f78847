"""Analyzer messages, printed as ``istioctl analyze`` prints them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Level = Literal["Error", "Warning", "Info"]


@dataclass(frozen=True, slots=True)
class Message:
    """``<level> [<code>] (<kind> <namespace>/<name>) <details>`` (istioctl's format)."""

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


def resource_label(r: Any) -> str:
    return f"{r.kind} {r.namespace}/{r.name}"
