"""Problems with the documents of a request, as the registry answers them: each a message
(``document N: ...``, as before) and a mapping locating it in the request (see
:class:`~inmesh.registry._errors.BadRequest`), so that ``inmesh apply`` can name the file
and document each came from."""

from __future__ import annotations

from typing import Any

from ..._errors import ConfigError
from .._errors import BadRequest
from ..store import ResourceKey

__all__ = ["Problems"]


class Problems:
    """Problems with an apply's documents: each as a message (``document N: ...``) and as
    a mapping locating it (see :class:`BadRequest`), so a client can name its files."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.located: list[dict[str, Any]] = []

    def add(self, document: int, message: str, *, key: ResourceKey | None = None) -> None:
        where = f"{key}: " if key is not None else ""
        self.messages.append(f"document {document}: {where}{message}")
        located: dict[str, Any] = {"document": document, "message": message}
        if key is not None:
            located.update(kind=key.kind, namespace=key.namespace, name=key.name)
        self.located.append(located)

    def extend(self, exc: ConfigError) -> None:
        """The schema's problems (``document`` is the index in the request)."""
        for p in exc.problems:
            self.messages.append(str(p))
            located = {
                "document": p.document,
                "message": p.message,
                "kind": p.kind,
                "namespace": p.namespace,
                "name": p.name,
                "field": p.field,
                "code": p.code,
            }
            self.located.append({k: v for k, v in located.items() if v is not None})

    def raise_any(self) -> None:
        if self.messages:
            raise BadRequest(400, self.messages, problems=self.located)
