"""The registry's server: the ASGI application, its API, and ``inmesh registry serve``.

==================  ========================================================================
``_app``            the route table and lifespan (:func:`create_app`)
``_context``        what every handler needs (store, hub, credentials, validator, proxies)
``_api_config``     apply, get, list, delete
``_api_workloads``  register, heartbeat, deregister, tokens
``_api_ca``         ``POST /v1/certificates`` (sign a CSR), ``GET /v1/ca/roots``
``_ca``             the registry's CA: plug-in directory or self-signed root in the data dir
``_api_proxies``    proxy status: reports, ``GET /v1/proxies``
``_api_sd``         Prometheus HTTP service discovery, ``GET /v1/sd/prometheus``
``_metrics``        the registry's own metrics (istiod's ``pilot_*``), ``GET /metrics``
``_watch``          ``GET /v1/watch``, the long poll, as ASGI middleware in front
``_push``           Istio's push debounce; each published revision, its answers (delta
                    or full snapshot) serialized once per scope
``_delta``          incremental push: the log of published changes, a watcher's delta
``_scope``          what one watcher may see (:class:`WatchScope`): the one place a
                    per-watcher scope (Istio's ``Sidecar``) plugs in
``_proxies``        the proxies of this replica (in memory, as istiod's connections)
``_auth``           tokens and what each may see (Istio's visibility rules)
``_validate``       request bodies to resources, with ``inmesh analyze``'s checks
``_problems``       a request's problems as messages and located (document, field)
``_http``           bodies, JSON answers, exceptions to status codes (one place)
``_openapi``        the OpenAPI document of the route table (``_openapi_watch``,
                    ``_openapi_ca``: their parts)
``_serve``          uvicorn, the store choice, shutdown that answers held polls
==================  ========================================================================
"""

from __future__ import annotations

from ._app import create_app
from ._ca import RegistryCA, open_ca
from ._push import Debouncer, Hub
from ._serve import RegistryServer, ServeOptions, serve

__all__ = [
    "Debouncer",
    "Hub",
    "RegistryCA",
    "RegistryServer",
    "ServeOptions",
    "create_app",
    "open_ca",
    "serve",
]
