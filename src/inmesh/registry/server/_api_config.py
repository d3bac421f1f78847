"""The configuration half of the API: apply, get, list and delete (the watch is
``_watch.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .._errors import BadRequest, NotFound
from ..store import ResourceKey, StoredResource, Write, WriteResult
from ._auth import visible
from ._context import Context, ctx_of
from ._http import json_response, read_body
from ._validate import KINDS, parse_body, resource_keys

__all__ = ["apply", "delete_many", "delete_one", "get_one", "list_resources"]


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("1", "true", "yes")


def _int_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise BadRequest(400, [f"query parameter {name}={value!r} is not an integer"]) from None


def _kind(kind: str | None) -> str | None:
    if kind is not None and kind not in KINDS:
        raise BadRequest(
            400, [f"unknown kind {kind!r}; expected one of " + ", ".join(sorted(KINDS))]
        )
    return kind


async def apply(request: Request) -> Response:
    """Create or update every document of the body in one transaction. Documents equal to
    what is stored are reported "unchanged" without being validated or written again; an
    apply that changes nothing commits nothing (no revision, no push)."""
    ctx = ctx_of(request)
    (await ctx.principal(request)).require_admin()
    docs = parse_body(
        await read_body(request, ctx.max_body), request.headers.get("content-type", "")
    )
    namespace = request.query_params.get("namespace") or None
    async with ctx.apply_lock:
        state = await ctx.store.state()
        registered = [
            StoredResource(key=w.key, body=w.body, version=w.version, created=w.created)
            for w in state.workloads
        ]
        checked = ctx.validator.check_apply(docs, namespace, state.resources, registered)
        if _flag(request, "dryRun"):
            results = [
                {**_key_json(k), "action": "unchanged" if k in checked.unchanged else "validated"}
                for k in checked.order
            ]
            return json_response(
                {
                    "revision": state.revision,
                    "results": results,
                    "warnings": checked.warnings,
                    "dryRun": True,
                }
            )
        revision, written = state.revision, list[WriteResult]()
        if checked.writes:
            revision, written = await ctx.store.commit(checked.writes)
            ctx.validator.remember(checked, written)
    results = [
        {**_key_json(r.key), "action": r.action, "resourceVersion": str(r.version)}
        for r in checked.results(written)
    ]
    return json_response({"revision": revision, "results": results, "warnings": checked.warnings})


def _key_json(key: ResourceKey) -> dict[str, str]:
    return {"kind": key.kind, "namespace": key.namespace, "name": key.name}


async def delete_many(request: Request) -> Response:
    """Delete the resources a body names (``inmesh delete -f``), all or nothing."""
    ctx = ctx_of(request)
    (await ctx.principal(request)).require_admin()
    docs = parse_body(
        await read_body(request, ctx.max_body), request.headers.get("content-type", "")
    )
    keys = resource_keys(docs, request.query_params.get("namespace") or None)
    missing_ok = _flag(request, "ignoreNotFound")
    revision, written = await ctx.store.commit(
        [Write(k, None, missing_ok=missing_ok) for k in dict.fromkeys(keys)]
    )
    return json_response(
        {
            "revision": revision,
            "results": [{**_key_json(r.key), "action": r.action} for r in written],
        }
    )


async def delete_one(request: Request) -> Response:
    """Delete one resource; for a WorkloadEntry that is a registration, end it."""
    ctx = ctx_of(request)
    (await ctx.principal(request)).require_admin()
    p = request.path_params
    key = ResourceKey(str(_kind(p["kind"])), p["namespace"], p["name"])
    expected = _int_param(request, "resourceVersion")
    try:
        revision, _ = await ctx.store.commit([Write(key, None, expected_version=expected)])
    except NotFound:
        if key.kind != "WorkloadEntry" or expected is not None:
            raise
        revision = await ctx.store.deregister(key.namespace, key.name)
    return json_response(
        {"revision": revision, "results": [{**_key_json(key), "action": "deleted"}]}
    )


async def _documents(
    ctx: Context, kind: str | None, namespace: str | None
) -> tuple[int, list[dict[str, Any]]]:
    state = await ctx.store.state()
    docs = [
        r.document()
        for r in state.resources
        if (kind is None or r.key.kind == kind)
        and (namespace is None or r.key.namespace == namespace)
    ]
    if kind in (None, "WorkloadEntry"):
        docs.extend(
            w.document() for w in state.workloads if namespace is None or w.namespace == namespace
        )
    return state.revision, docs


async def list_resources(request: Request) -> Response:
    """Resources by kind and namespace (both optional), as the caller may see them."""
    ctx = ctx_of(request)
    principal = await ctx.principal(request)
    kind = _kind(request.query_params.get("kind") or None)
    namespace = request.query_params.get("namespace") or None
    principal.require_read(kind, namespace)
    revision, docs = await _documents(ctx, kind, namespace)
    items = [d for d in docs if visible(principal, d)]
    return json_response({"revision": revision, "items": items})


async def get_one(request: Request) -> Response:
    ctx = ctx_of(request)
    principal = await ctx.principal(request)
    p = request.path_params
    kind = str(_kind(p["kind"]))
    principal.require_read(kind, p["namespace"])
    _, docs = await _documents(ctx, kind, p["namespace"])
    for doc in docs:
        if _name(doc) == p["name"] and visible(principal, doc):
            return json_response(doc)
    raise NotFound(f"{kind} {p['namespace']}/{p['name']} not found")


def _name(doc: Mapping[str, Any]) -> str | None:
    meta = doc.get("metadata") or {}
    name = meta.get("name")
    return name if isinstance(name, str) else None
