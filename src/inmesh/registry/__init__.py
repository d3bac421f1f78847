"""The registry: inmesh's control plane (what istiod is to Istio) and its client.

It stores the configuration (SQLite, or etcd for several replicas), knows every live
workload (registrations kept alive by heartbeats), and pushes snapshots to every client.

    from inmesh.registry import RegistryClient

    client = RegistryClient("http://127.0.0.1:15010", token, cache_file="reviews.cache")
    async with client.register(address="127.0.0.1", ports={"http": 9080},
                               labels={"app": "reviews", "version": "v2"}):
        async for view in client.watch():
            mesh.apply(view.resources)

See docs/registry.md.
"""

from __future__ import annotations

from ._app import create_app
from ._cli import add_commands
from ._client import RegistryClient, RegistryView
from ._errors import (
    Conflict,
    NotFound,
    RegistryError,
    RegistryRejected,
    RegistryUnavailable,
    StoreError,
)
from ._etcd_store import EtcdStore
from ._registration import Registration
from ._sqlite_store import SqliteStore
from ._store import REGISTERED_ANNOTATION, Store
from ._thread import BackgroundRegistration, BackgroundWatch

__all__ = [
    "REGISTERED_ANNOTATION",
    "BackgroundRegistration",
    "BackgroundWatch",
    "Conflict",
    "EtcdStore",
    "NotFound",
    "Registration",
    "RegistryClient",
    "RegistryError",
    "RegistryRejected",
    "RegistryUnavailable",
    "RegistryView",
    "SqliteStore",
    "Store",
    "StoreError",
    "add_commands",
    "create_app",
]
