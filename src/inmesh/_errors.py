"""Every exception inmesh raises.

    InmeshError
    ├── ConfigError          configuration that cannot be accepted (parse, schema,
    │                        cross-reference or "not supported yet"); carries every
    │                        problem found, each located to file/document/resource/field
    └── MeshStateError       the Mesh used in the wrong state (not started, closed)

Requests the mesh itself ends are *not* exceptions: the application gets the response an
Istio sidecar would give (see ``inmesh._flags``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ConfigError", "ConfigProblem", "InmeshError", "MeshStateError"]


class InmeshError(Exception):
    """Base class of every inmesh exception."""


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One problem in the configuration, located as precisely as is known.

    ``document`` counts from 1 within ``file``; ``field`` is a dotted path with list
    indexes (``spec.http[0].route[1].weight``). ``code`` is Istio's analyzer code where one
    exists (``IST0106`` for schema errors).
    """

    message: str
    file: str | None = None
    document: int | None = None
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    field: str | None = None
    code: str = "IST0106"
    severity: str = "Error"

    @property
    def resource(self) -> str | None:
        if self.kind is None:
            return None
        return f"{self.kind} {self.namespace or 'default'}/{self.name or '?'}"

    def __str__(self) -> str:
        where: list[str] = []
        if self.file is not None:
            where.append(
                self.file if self.document is None else f"{self.file} (document {self.document})"
            )
        if self.resource is not None:
            where.append(self.resource)
        if self.field:
            where.append(self.field)
        prefix = ": ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class ConfigError(InmeshError, ValueError):
    """Configuration rejected; nothing from it was applied.

    ``problems`` lists every problem found, not just the first.
    """

    def __init__(self, problems: Sequence[ConfigProblem] | str) -> None:
        if isinstance(problems, str):
            problems = [ConfigProblem(problems)]
        self.problems: tuple[ConfigProblem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class MeshStateError(InmeshError, RuntimeError):
    """The Mesh was used before it started or after it closed."""
