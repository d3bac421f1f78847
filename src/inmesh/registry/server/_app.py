"""The registry as an ASGI application: the route table, in one place, and its lifespan.

GET    /v1/healthz                                  liveness, revision, body limit (no credentials)
GET    /v1/openapi.json                             this API, described (no credentials)
POST   /v1/apply[?namespace=&dryRun=]               create or update, all or nothing
POST   /v1/delete[?namespace=&ignoreNotFound=]      delete what a body names
GET    /v1/resources[?kind=&namespace=]             list
GET    /v1/resources/{kind}/{namespace}/{name}      get
DELETE /v1/resources/{kind}/{namespace}/{name}      delete one
GET    /v1/watch?revision=&store=&timeout=          long-poll (``_watch.py``, in front)
GET    /v1/workloads[?namespace=]                   live registrations
POST   /v1/workloads                                register
POST   /v1/workloads/{namespace}/{name}/heartbeat   renew the lease
DELETE /v1/workloads/{namespace}/{name}             deregister
GET    /v1/tokens, POST /v1/tokens                  list, create join tokens (admin)
DELETE /v1/tokens/{id}                              revoke
POST   /v1/certificates                             sign a workload's CSR (the mesh CA)
GET    /v1/ca/roots                                 the trust bundle and the signing CA
GET    /v1/proxies                                  proxy status: applied revisions (admin)
POST   /v1/proxies                                  a watching client's status report
DELETE /v1/proxies/{id}                             a client that stopped watching
GET    /v1/sd/prometheus[?namespace=]               Prometheus HTTP service discovery
GET    /metrics                                     the registry's own metrics (no credentials)
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..store import Store, Token
from . import _api_ca as ca_api
from . import _api_config as cfg
from . import _api_proxies as px
from . import _api_sd as sd
from . import _api_workloads as wl
from ._auth import Authenticator, digest
from ._ca import RegistryCA
from ._context import Context, ctx_of
from ._http import error_response, handler, json_response
from ._metrics import RegistryMetrics, registry_metrics
from ._openapi import openapi_document
from ._proxies import ProxyTracker
from ._push import Hub
from ._validate import load_models
from ._watch import WatchEndpoint

__all__ = ["create_app"]


async def _healthz(request: Request) -> Response:
    ctx = ctx_of(request)
    hub: Hub = ctx.hub
    return json_response(
        {
            "status": "ok",
            "revision": hub.current.revision,
            "store": hub.current.store_id,
            # the request body limit, so a client can refuse a too-large apply before it
            # reads (and validates) the files
            "maxBody": ctx.max_body,
        }
    )


async def _openapi(request: Request) -> Response:
    return json_response(openapi_document())


async def _not_found(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 404)
    return error_response(
        status,
        [
            f"{request.method} {request.url.path}: "
            + ("no such endpoint" if status == 404 else "method not allowed")
        ],
    )


def _routes() -> list[Route]:
    h = handler
    return [
        Route("/v1/healthz", h(_healthz), methods=["GET"]),
        Route("/v1/openapi.json", h(_openapi), methods=["GET"]),
        Route("/v1/apply", h(cfg.apply), methods=["POST"]),
        Route("/v1/delete", h(cfg.delete_many), methods=["POST"]),
        Route("/v1/resources", h(cfg.list_resources), methods=["GET"]),
        Route("/v1/resources/{kind}/{namespace}/{name}", h(cfg.get_one), methods=["GET"]),
        Route("/v1/resources/{kind}/{namespace}/{name}", h(cfg.delete_one), methods=["DELETE"]),
        Route("/v1/workloads", h(wl.list_workloads), methods=["GET"]),
        Route("/v1/workloads", h(wl.register), methods=["POST"]),
        Route("/v1/workloads/{namespace}/{name}/heartbeat", h(wl.heartbeat), methods=["POST"]),
        Route("/v1/workloads/{namespace}/{name}", h(wl.deregister), methods=["DELETE"]),
        Route("/v1/tokens", h(wl.list_tokens), methods=["GET"]),
        Route("/v1/tokens", h(wl.create_token), methods=["POST"]),
        Route("/v1/tokens/{id}", h(wl.delete_token), methods=["DELETE"]),
        Route("/v1/certificates", h(ca_api.sign_certificate), methods=["POST"]),
        Route("/v1/ca/roots", h(ca_api.ca_roots), methods=["GET"]),
        Route("/v1/proxies", h(px.list_proxies), methods=["GET"]),
        Route("/v1/proxies", h(px.report_proxy), methods=["POST"]),
        Route("/v1/proxies/{id}", h(px.delete_proxy), methods=["DELETE"]),
        Route("/v1/sd/prometheus", h(sd.prometheus_sd), methods=["GET"]),
        Route("/metrics", h(registry_metrics), methods=["GET"]),
    ]


def create_app(
    store: Store,
    *,
    admin_token: str | None = None,
    debounce: float = 0.1,
    max_delay: float = 1.0,
    sweep_interval: float = 0.5,
    max_body: int = 4 * 1024 * 1024,
    max_hold: float = 60.0,
    proxy_expiry: float | None = None,
    ca: RegistryCA | None = None,
) -> Starlette:
    """The registry over ``store`` (opened and closed by the app's lifespan).

    ``admin_token`` (the secret from the data directory) is recorded in the store at
    startup, so on etcd every replica's own admin token works against all of them.
    ``debounce``/``max_delay`` shape pushes (:class:`~inmesh.registry.server.Debouncer`);
    ``max_body`` bytes bound a request body (413 past it); ``max_hold`` seconds bound a
    long poll; a proxy not seen for ``proxy_expiry`` seconds (default: three long polls
    of ``max_hold``) leaves the proxy status. ``ca`` signs workload certificates
    (:func:`~inmesh.registry.server.open_ca`); without one ``POST /v1/certificates`` and
    ``GET /v1/ca/roots`` answer 501.
    """
    hub = Hub(store, debounce=debounce, max_delay=max_delay, sweep_interval=sweep_interval)
    context = Context(
        store=store,
        hub=hub,
        auth=Authenticator(store),
        proxies=ProxyTracker(expiry=proxy_expiry if proxy_expiry is not None else 3 * max_hold),
        max_body=max_body,
        max_hold=max_hold,
        ca=ca,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.open()
        load_models()  # before the first apply, which would pay for it
        try:
            if admin_token is not None:
                key = digest(admin_token)
                if await store.find_token(key) is None:
                    await store.put_token(
                        key, Token(id=f"admin-{key[:8]}", role="admin", created=time.time())
                    )
            await hub.start()
            try:
                yield
            finally:
                await hub.stop()
        finally:
            await store.close()

    app = Starlette(
        routes=_routes(),
        lifespan=lifespan,
        middleware=[Middleware(WatchEndpoint, context=context)],
        exception_handlers={404: _not_found, 405: _not_found},
    )
    app.state.registry = context
    app.state.registry_metrics = RegistryMetrics(context)
    return app
