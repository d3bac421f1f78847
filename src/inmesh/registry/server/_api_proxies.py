"""The proxy-status half of the API (``_proxies.py`` keeps the table).

POST   /v1/proxies         a client's full report: who it is, the revision it applied,
                           what it rejected, numbered by a generation (any token; a join
                           token for its own namespace only)
GET    /v1/proxies         every proxy with SYNCED / STALE (admin)
DELETE /v1/proxies/{id}    a client that stopped watching (same rule as POST)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ...config._names import check_namespace
from .._errors import BadRequest, Denied, NotFound
from ._auth import Principal
from ._context import ctx_of
from ._http import json_response, read_json
from ._proxies import ProxyRecord, ProxyRejection, sync_status

__all__ = ["delete_proxy", "list_proxies", "report_proxy"]

_ID = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_FIELDS = frozenset({"id", "service", "namespace", "labels", "applied", "generation", "rejections"})
_REJECTION_FIELDS = ("kind", "namespace", "name", "reason")
_LIMITS = {"reason": 2000}  # characters; names are at most 253


def _string(value: object, what: str, problems: list[str], limit: int = 253) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        problems.append(f"{what} must be a non-empty string of at most {limit} characters")
        return ""
    return value


def _rejections(value: object, problems: list[str]) -> tuple[ProxyRejection, ...]:
    if not isinstance(value, list):
        problems.append("rejections must be a list")
        return ()
    out: list[ProxyRejection] = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            problems.append(
                f"rejections[{i}] must be an object with {', '.join(_REJECTION_FIELDS)}"
            )
            continue
        kind, namespace, name, reason = (
            _string(item.get(f), f"rejections[{i}].{f}", problems, _LIMITS.get(f, 253))
            for f in _REJECTION_FIELDS
        )
        out.append(ProxyRejection(kind, namespace, name, reason))
    return tuple(out)


def parse_report(body: Mapping[str, Any]) -> ProxyRecord:
    """A report as a record, or BadRequest listing every problem in it."""
    problems = [f"unknown field {f!r} in a proxy report" for f in sorted(set(body) - _FIELDS)]
    proxy_id = body.get("id")
    if not isinstance(proxy_id, str) or not _ID.fullmatch(proxy_id):
        problems.append(f"id {proxy_id!r} must be a DNS-1123 label (lower-case, at most 63)")
    service = _string(body.get("service"), "service", problems)
    namespace = body.get("namespace", "default")
    if not isinstance(namespace, str):
        problems.append("namespace must be a string")
    elif (problem := check_namespace(namespace)) is not None:
        problems.append(problem)
    labels = body.get("labels") or {}
    if not isinstance(labels, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        problems.append("labels must map strings to strings")
    applied, generation = body.get("applied", 0), body.get("generation", 0)
    for field, value in (("applied", applied), ("generation", generation)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            problems.append(f"{field} must be an integer >= 0, not {value!r}")
    rejections = _rejections(body.get("rejections", []), problems)
    if problems:
        raise BadRequest(400, problems)
    return ProxyRecord(
        id=str(proxy_id),
        service=service,
        namespace=str(namespace),
        labels=dict(labels),
        applied=int(applied),
        rejections=rejections,
        seen=0.0,
        generation=int(generation),
    )


def _require_namespace(principal: Principal, namespace: str) -> None:
    """A join token reports (and removes) proxies of its own namespace only."""
    if not principal.admin and namespace != principal.token.namespace:
        raise Denied(
            403,
            f"join token for namespace {principal.token.namespace!r} cannot report "
            f"proxies of namespace {namespace!r}",
        )


async def report_proxy(request: Request) -> Response:
    """Record a client's status (what it applied and rejected)."""
    ctx = ctx_of(request)
    principal = await ctx.principal(request)
    record = parse_report(await read_json(request, ctx.max_body))
    _require_namespace(principal, record.namespace)
    known = ctx.proxies.get(record.id)
    if known is not None:
        _require_namespace(principal, known.namespace)
    if not ctx.proxies.report(record):
        raise BadRequest(429, [f"this registry tracks {ctx.proxies.limit} proxies already"])
    return json_response({"id": record.id, "revision": ctx.hub.current.revision})


def _proxy_json(record: ProxyRecord, current: int, now: float) -> dict[str, Any]:
    return {
        "id": record.id,
        "service": record.service,
        "namespace": record.namespace,
        "labels": dict(record.labels),
        "applied": record.applied,
        "status": sync_status(record.applied, current),
        "lastSeen": round(now - record.seen, 3),
        "rejections": [
            {"kind": r.kind, "namespace": r.namespace, "name": r.name, "reason": r.reason}
            for r in record.rejections
        ],
    }


async def list_proxies(request: Request) -> Response:
    """Every proxy watching this replica, as ``istioctl proxy-status`` lists them."""
    ctx = ctx_of(request)
    (await ctx.principal(request)).require_admin()
    current, now = ctx.hub.current, ctx.proxies.clock()
    items = [_proxy_json(r, current.revision, now) for r in ctx.proxies.proxies()]
    return json_response({"revision": current.revision, "store": current.store_id, "items": items})


async def delete_proxy(request: Request) -> Response:
    """A client that stopped watching leaves the table at once."""
    ctx = ctx_of(request)
    principal = await ctx.principal(request)
    proxy_id = request.path_params["id"]
    known = ctx.proxies.get(proxy_id)
    if known is None:
        raise NotFound(f"no proxy {proxy_id!r} on this registry")
    _require_namespace(principal, known.namespace)
    ctx.proxies.forget(proxy_id)
    return json_response({"id": proxy_id, "deleted": True})
