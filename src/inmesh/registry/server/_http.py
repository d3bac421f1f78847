"""HTTP plumbing shared by the API handlers: bodies with a size limit, JSON answers, and
the one place where exceptions become status codes.

Every error answer has the same shape, so a client prints it the same way::

    {"code": 409, "reason": "Conflict", "messages": ["VirtualService default/reviews: ..."]}

A 400 about an apply's documents also carries ``"problems"``, one per message, each with
the index of the document in the request (``"document"``, from 1), the resource, the field
and the message alone, so that ``inmesh apply`` names the file and document of each.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .._errors import BadRequest, Conflict, Denied, NotFound, StoreError

__all__ = ["error_response", "handler", "json_response", "read_body", "read_json"]

log = logging.getLogger("inmesh.registry")

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    413: "PayloadTooLarge",
    429: "TooManyRequests",
    501: "NotImplemented",
    503: "ServiceUnavailable",
}

Handler = Callable[[Request], Awaitable[Response]]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":")).encode()
    return Response(body, status, headers=headers, media_type="application/json")


def error_response(
    status: int, messages: Sequence[str], problems: Sequence[Mapping[str, Any]] = ()
) -> Response:
    """The error shape; ``problems`` (one per message, located in the request's
    documents) only when given."""
    data: dict[str, Any] = {
        "code": status,
        "reason": _REASONS.get(status, "Error"),
        "messages": list(messages),
    }
    if problems:
        data["problems"] = list(problems)
    return json_response(data, status)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 past ``limit`` bytes (without reading it all)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadRequest(413, [f"body of {int(declared)} bytes is over the limit of {limit} bytes"])
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(413, [f"body is over the limit of {limit} bytes"])
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    raw = await read_body(request, limit)
    try:
        data = json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(400, [f"malformed JSON: {exc}"]) from None
    if not isinstance(data, dict):
        raise BadRequest(400, ["expected a JSON object"])
    return data


def handler(fn: Handler) -> Handler:
    """Translate the registry's exceptions into error answers (never a traceback)."""

    @functools.wraps(fn)
    async def wrapped(request: Request) -> Response:
        try:
            return await fn(request)
        except Denied as exc:
            headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
            response = error_response(exc.status, [str(exc)])
            if headers:
                response.headers.update(headers)
            return response
        except BadRequest as exc:
            return error_response(exc.status, exc.messages, exc.problems)
        except Conflict as exc:
            return error_response(409, [str(exc)])
        except NotFound as exc:
            return error_response(404, [str(exc)])
        except StoreError as exc:
            log.warning("store unavailable: %s", exc)
            return error_response(503, [f"the registry's store is unavailable: {exc}"])

    return wrapped
