"""The workload half of the API: register, heartbeat, deregister, tokens.

Registration follows Istio's WorkloadGroup auto-registration: the workload says who it
is (namespace, service account, labels) and where (address, ports, locality), and the
registry keeps a WorkloadEntry for it while its lease is renewed. Certificates have one
home, ``POST /v1/certificates`` (``_api_ca.py``): a registration carrying ``csr`` is
refused (400) with a pointer there.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .._data import new_secret
from .._errors import BadRequest, NotFound
from ..store import Token, WorkloadRecord, iso_time
from ._auth import digest
from ._context import ctx_of
from ._http import json_response, read_json

__all__ = [
    "create_token",
    "delete_token",
    "deregister",
    "heartbeat",
    "list_tokens",
    "list_workloads",
    "register",
]

MIN_TTL, MAX_TTL, DEFAULT_TTL = 1.0, 300.0, 10.0
_CSR_ELSEWHERE = (
    "unknown field 'csr' in a registration: certificates are signed by "
    "POST /v1/certificates (RegistryClient.sign)"
)

_SPEC_FIELDS = {
    "address": "address",
    "ports": "ports",
    "labels": "labels",
    "serviceAccount": "serviceAccount",
    "locality": "locality",
    "network": "network",
    "weight": "weight",
}


def _workload_json(w: WorkloadRecord) -> dict[str, Any]:
    now = time.time()
    return {
        "namespace": w.namespace,
        "name": w.name,
        "ttl": w.ttl,
        "heartbeatInterval": round(w.ttl / 3, 3),
        "revision": w.version,
        "created": iso_time(w.created),
        "age": round(now - w.created, 3),
        "lastHeartbeat": round(now - w.renewed, 3),
        "expiresIn": round(w.expires - now, 3),
        "workload": w.document(),
    }


def _document(body: Mapping[str, Any], namespace: str, name: str) -> dict[str, Any]:
    spec = {k: body[src] for src, k in _SPEC_FIELDS.items() if body.get(src) is not None}
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if body.get("labels"):
        meta["labels"] = body["labels"]
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "WorkloadEntry",
        "metadata": meta,
        "spec": spec,
    }


async def register(request: Request) -> Response:
    """Register (or re-register) a workload; it lives while heartbeats renew its lease.

    A bad registration is refused with every problem in it (fields of the request and of
    the WorkloadEntry it becomes), not just the first.
    """
    ctx = ctx_of(request)
    principal = await ctx.principal(request)
    body = await read_json(request, ctx.max_body)
    problems: list[str] = []
    namespace = body.get("namespace") or principal.token.namespace or "default"
    if not isinstance(namespace, str):
        problems.append(f"namespace must be a string, not {namespace!r}")
        namespace = principal.token.namespace or "default"
    service_account = body.get("serviceAccount")
    if service_account is None and principal.token.service_account:
        service_account = body["serviceAccount"] = principal.token.service_account
    principal.require_workload(namespace, service_account)
    unknown = set(body) - {*_SPEC_FIELDS, "name", "namespace", "ttl"}
    problems += [
        _CSR_ELSEWHERE if f == "csr" else f"unknown field {f!r} in a registration"
        for f in sorted(unknown)
    ]
    ttl = body.get("ttl", DEFAULT_TTL)
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not MIN_TTL <= ttl <= MAX_TTL:
        problems.append(
            f"ttl must be a number of seconds in [{MIN_TTL:g}, {MAX_TTL:g}], not {ttl!r}"
        )
    name = body.get("name")
    if name is None:
        labels = body.get("labels")
        app = labels.get("app") if isinstance(labels, dict) else None
        name = f"{app if isinstance(app, str) and app else 'workload'}-{secrets.token_hex(4)}"
    elif not isinstance(name, str):
        problems.append(f"name must be a string, not {name!r}")
    try:
        (resource,) = ctx.validator.parse(
            [_document(body, namespace, str(name))], source="registration"
        )
    except BadRequest as exc:
        raise BadRequest(400, [*problems, *exc.messages]) from None
    if problems:
        raise BadRequest(400, problems)
    workload = await ctx.store.register(
        namespace, resource.name, ctx.validator.canonical(resource), float(ttl)
    )
    return json_response(_workload_json(workload), 201)


async def _authorize_workload(request: Request) -> tuple[str, str]:
    ctx = ctx_of(request)
    principal = await ctx.principal(request)
    namespace, name = request.path_params["namespace"], request.path_params["name"]
    account = None
    if principal.token.service_account is not None:
        found = [w for w in await ctx.store.workloads(namespace) if w.name == name]
        if not found:
            raise NotFound(f"no live registration {namespace}/{name}")
        account = (found[0].body.get("spec") or {}).get("serviceAccount")
    principal.require_workload(namespace, account)
    return namespace, name


async def heartbeat(request: Request) -> Response:
    """Renew a registration's lease; 404 once it expired (the workload registers again)."""
    namespace, name = await _authorize_workload(request)
    workload = await ctx_of(request).store.heartbeat(namespace, name)
    return json_response(
        {
            "namespace": namespace,
            "name": name,
            "ttl": workload.ttl,
            "expiresIn": round(workload.expires - time.time(), 3),
        }
    )


async def deregister(request: Request) -> Response:
    """End a registration at once (graceful shutdown)."""
    namespace, name = await _authorize_workload(request)
    revision = await ctx_of(request).store.deregister(namespace, name)
    return json_response({"namespace": namespace, "name": name, "revision": revision})


async def list_workloads(request: Request) -> Response:
    ctx = ctx_of(request)
    principal = await ctx.principal(request)
    namespace = principal.namespace_scope(
        request.query_params.get("namespace") or None, "list workloads"
    )
    items = [_workload_json(w) for w in await ctx.store.workloads(namespace)]
    return json_response({"items": items})


async def create_token(request: Request) -> Response:
    """A join token for a namespace (and optionally one service account)."""
    ctx = ctx_of(request)
    (await ctx.principal(request)).require_admin()
    body = await read_json(request, ctx.max_body)
    from ...config._names import check_dns1123_label, check_namespace

    namespace = body.get("namespace")
    account = body.get("serviceAccount")
    problems = []
    if not isinstance(namespace, str):
        problems.append("namespace is required")
    elif (problem := check_namespace(namespace)) is not None:
        problems.append(problem)
    if account is not None and (
        not isinstance(account, str) or check_dns1123_label(account, "serviceAccount")
    ):
        problems.append(f"serviceAccount {account!r} is not a valid name")
    if problems:
        raise BadRequest(400, problems)
    secret = new_secret()
    token = Token(
        id=f"join-{secrets.token_hex(4)}",
        role="join",
        created=time.time(),
        namespace=namespace,
        service_account=account,
    )
    await ctx.store.put_token(digest(secret), token)
    return json_response({**token.to_json(), "token": secret}, 201)


async def list_tokens(request: Request) -> Response:
    ctx = ctx_of(request)
    (await ctx.principal(request)).require_admin()
    return json_response({"items": [t.to_json() for t in await ctx.store.list_tokens()]})


async def delete_token(request: Request) -> Response:
    ctx = ctx_of(request)
    (await ctx.principal(request)).require_admin()
    token_id = request.path_params["id"]
    if not await ctx.store.delete_token(token_id):
        raise NotFound(f"no token {token_id!r}")
    ctx.auth.forget()
    return json_response({"id": token_id, "deleted": True})
