"""The registry's exceptions.

    InmeshError
    └── RegistryError            anything about talking to or running the registry
        ├── RegistryUnavailable  no answer (connection refused, timeout, 5xx) and no cache
        ├── RegistryRejected     the registry answered 4xx; ``status`` and every message
        ├── StoreError           the storage layer refused a change
        │   ├── Conflict         a resourceVersion or name clash (HTTP 409)
        │   └── NotFound         no such resource or registration (HTTP 404)
        ├── BadRequest           (server) a request refused for its content: 400, 413, 429
        └── Denied               (server) a request refused for its credentials: 401, 403

The server turns its exceptions into answers in one place (``server/_http.py``); the
client turns answers back into ``RegistryRejected`` / ``RegistryUnavailable``.

``RegistryRejected`` keeps the HTTP status so callers can tell 401/403 (credentials) from
400/409/413 (the request itself) without parsing messages. This module is shared by the
client and the server, and imports nothing of either.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._errors import InmeshError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "BadRequest",
    "Conflict",
    "Denied",
    "NotFound",
    "RegistryError",
    "RegistryRejected",
    "RegistryUnavailable",
    "StoreError",
]


class RegistryError(InmeshError):
    """Base class of every registry error."""


class RegistryUnavailable(RegistryError):
    """The registry could not be reached (and no cached view could stand in)."""


class RegistryRejected(RegistryError):
    """The registry refused a request; ``messages`` holds every reason it gave, and
    ``problems`` the same located in the request's documents when it gave them."""

    def __init__(
        self,
        status: int,
        messages: Sequence[str],
        problems: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self.status = status
        self.messages: tuple[str, ...] = tuple(messages) or (f"HTTP {status}",)
        self.problems: tuple[Mapping[str, Any], ...] = tuple(problems)
        super().__init__("; ".join(self.messages))

    @classmethod
    def from_response(cls, response: httpx.Response) -> RegistryRejected:
        """A 4xx answer as an exception carrying every message the registry gave (its
        error shape is ``{"code", "reason", "messages": [...]}``, and ``"problems"``
        when it can say which document of the request each is about)."""
        return cls.from_body(response.status_code, response.content)

    @classmethod
    def from_body(cls, status: int, content: bytes) -> RegistryRejected:
        """:meth:`from_response` from the status and the body."""
        problems: list[Mapping[str, Any]] = []
        try:
            data = json.loads(content)
            messages = [str(m) for m in data.get("messages", ())]
            given = data.get("problems")
            if isinstance(given, list) and len(given) == len(messages):
                problems = [p for p in given if isinstance(p, dict)]
                if len(problems) != len(messages):
                    problems = []
        except (ValueError, AttributeError, TypeError):
            text = content.decode("utf-8", "replace").strip()
            messages = [text[:500]] if text else []
        return cls(status, messages or [f"HTTP {status}"], problems)


class StoreError(RegistryError):
    """A store operation that cannot be carried out; nothing was changed."""


class Conflict(StoreError):
    """The stored state is not what the caller expected (resourceVersion, name clash)."""


class NotFound(StoreError):
    """No such resource or registration."""


class BadRequest(RegistryError):
    """A request refused for its content: ``status`` (400, 413, 429) and every message;
    ``problems``, when given, is one mapping per message locating it in the request
    (``document``: its index, from 1; ``kind``, ``namespace``, ``name``, ``field``,
    ``code``; ``message`` without the location), so that a client can name its files."""

    def __init__(
        self,
        status: int,
        messages: Sequence[str],
        *,
        problems: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self.status = status
        self.messages = list(messages)
        self.problems = list(problems)
        super().__init__("; ".join(self.messages))


class Denied(RegistryError):
    """A request refused for its credentials: ``status`` is 401 or 403."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)
