"""The registry: inmesh's control plane (what istiod is to Istio) and its client.

It stores the configuration (SQLite, or etcd for several replicas), knows every live
workload (registrations kept alive by heartbeats), pushes snapshots to every client, and
shows which revision each client applied (``inmesh status --proxies``).

    from inmesh.registry import RegistryClient

    client = RegistryClient("http://127.0.0.1:15010", token, cache_file="reviews.cache")
    async with client.register(address="127.0.0.1", ports={"http": 9080},
                               labels={"app": "reviews", "version": "v2"}):
        async for view in client.watch():
            mesh.apply(view.resources)
            client.applied(view)

===========  ==========================================================================
``client/``  what a workload imports: RegistryClient, views, registration, proxy status
``server/``  the ASGI app, its API, watch and push, credentials, validation, ``serve``
``store/``   the Store contract, SQLite and etcd
``cli/``     ``inmesh registry serve|token``, ``apply``, ``get``, ``delete``, ``status``
``_errors``  the exceptions, shared by both sides
``_data``    the default address, the data directory and its admin token file
===========  ==========================================================================

Importing this package loads only its exceptions. Every other name below is loaded on
first use: the client's (``RegistryClient``, ...) with httpx and the configuration models,
the server's and the stores' (``create_app``, ``SqliteStore``, ...) with Starlette,
uvicorn, SQLite and the analyzer. So a workload never pays for the server, and the CLI's
``inmesh apply`` (an HTTP client of its own) pays for neither. See docs/registry.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names
from ._errors import (
    Conflict,
    NotFound,
    RegistryError,
    RegistryRejected,
    RegistryUnavailable,
    StoreError,
)

if TYPE_CHECKING:
    from .cli import add_commands
    from .client import (
        BackgroundRegistration,
        BackgroundWatch,
        ProxyInfo,
        Registration,
        RegistryClient,
        RegistryView,
        Rejection,
        SignedCertificate,
    )
    from .server import create_app
    from .store import REGISTERED_ANNOTATION, EtcdStore, SqliteStore, Store

__all__ = [
    "REGISTERED_ANNOTATION",
    "BackgroundRegistration",
    "BackgroundWatch",
    "Conflict",
    "EtcdStore",
    "NotFound",
    "ProxyInfo",
    "Registration",
    "RegistryClient",
    "RegistryError",
    "RegistryRejected",
    "RegistryUnavailable",
    "RegistryView",
    "Rejection",
    "SignedCertificate",
    "SqliteStore",
    "Store",
    "StoreError",
    "add_commands",
    "create_app",
]

#: Names loaded on first use, and the subpackage each comes from.
_LAZY = {
    "BackgroundRegistration": ".client",
    "BackgroundWatch": ".client",
    "ProxyInfo": ".client",
    "Registration": ".client",
    "RegistryClient": ".client",
    "RegistryView": ".client",
    "Rejection": ".client",
    "SignedCertificate": ".client",
    "REGISTERED_ANNOTATION": ".store",
    "EtcdStore": ".store",
    "SqliteStore": ".store",
    "Store": ".store",
    "add_commands": ".cli",
    "create_app": ".server",
}

__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())
