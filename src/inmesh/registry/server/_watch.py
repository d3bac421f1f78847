"""``GET /v1/watch``: the long poll, as pure ASGI middleware in front of the router.

Every watching client calls this after every change, so its cost per request bounds how
many watchers one registry serves within the push budget. Answering it here, before
Starlette's routing, exception middleware and Request objects, halves that cost; every
other endpoint goes on to the router untouched.

Protocol: ``revision`` and ``store`` are what the caller has (none for a new watcher).
The answer comes as soon as the current revision is newer (at once if it already is, or
if ``store`` differs), else ``304 Not Modified`` after ``timeout`` seconds (default 30, at
most the registry's ``max_hold``). A caller that sends ``delta=1`` gets what changed since
its revision in its scope (``{"since", "updated", "deleted"}``) when the push log reaches
back to it, and the full snapshot (``{"full": true, "resources"}``) otherwise; a caller
without it (a client from before deltas) always gets the full snapshot, in the same
format as before. A client that reports its
status adds ``proxy`` (its id), ``applied`` (the revision in force) and ``report`` (the
generation of its last full report): the request counts as seeing it and records the
revision (``_proxies.py``), and the answer carries ``x-inmesh-proxy: unknown`` when this
replica needs the full report again.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from .._errors import Denied
from ._scope import watch_scope

if TYPE_CHECKING:
    from ._context import Context

__all__ = ["PROXY_HEADER", "WATCH_PATH", "WatchEndpoint"]

WATCH_PATH = "/v1/watch"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_JSON = [(b"content-type", b"application/json")]

#: The answer's header naming a proxy this replica has no report from (the client's
#: ``client/_proxy.py`` reads it).
PROXY_HEADER = b"x-inmesh-proxy"
_UNKNOWN = [(PROXY_HEADER, b"unknown")]


def _error(status: int, message: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    reason = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden"}.get(status, "Error")
    body = json.dumps({"code": status, "reason": reason, "messages": [message]}).encode()
    headers = list(_JSON)
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    return status, headers, body


_SCOPES_KEPT = 100_000


class WatchEndpoint:
    """Pure ASGI middleware: answers ``GET /v1/watch``, passes everything else on."""

    def __init__(self, app: ASGIApp, context: Context) -> None:
        self.app = app
        self.context = context
        #: the scope each proxy was last answered in: a watcher whose scope changed (its
        #: proxy record arrived, a Sidecar now selects it) gets a full snapshot
        self._scopes: dict[str, str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != WATCH_PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        status, headers, body = await self._answer(scope)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: Scope) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        ctx = self.context
        authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
        try:
            principal = await ctx.auth.authenticate(authorization)
        except Denied as exc:
            return _error(exc.status, str(exc))
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        try:
            revision = int(query.get("revision", ["0"])[0] or 0)
            timeout = float(query.get("timeout", ["30"])[0] or 30)
            applied = int(query.get("applied", ["0"])[0] or 0)
            generation = int(query.get("report", ["0"])[0] or 0)
        except ValueError:
            return _error(
                400,
                "query parameters revision, applied and report (integers) and timeout "
                "(seconds) must be numbers",
            )
        store_id = query.get("store", [""])[0]
        delta = query.get("delta", ["0"])[0] or "0"
        if delta not in ("0", "1"):
            return _error(400, f"query parameter delta must be 0 or 1, not {delta!r}")
        deltas = delta == "1"
        proxy = query.get("proxy", [""])[0]
        if proxy:  # seen when asking (with the revision it applied), and when answered
            ctx.proxies.seen(proxy, applied=applied, generation=generation)
        published = await ctx.hub.wait(revision, store_id, max(0.0, min(timeout, ctx.max_hold)))
        unknown = proxy and not ctx.proxies.seen(proxy, generation=generation)
        extra = _UNKNOWN if unknown else []
        if published is None:
            current = ctx.hub.current
            etag = f'"{current.store_id}:{current.revision}"'.encode()
            return 304, [(b"etag", etag), *extra], b""
        etag = f'"{published.store_id}:{published.revision}"'.encode()
        record = ctx.proxies.get(proxy) if proxy else None
        view = watch_scope(principal, published.index, record)
        since = revision if deltas and store_id == published.store_id else None
        if proxy and self._scopes.get(proxy) != view.name:
            since = None
            if len(self._scopes) >= _SCOPES_KEPT:
                self._scopes.clear()  # every proxy gets one full snapshot more
            self._scopes[proxy] = view.name
        return 200, [*_JSON, (b"etag", etag), *extra], published.body(view, since)
