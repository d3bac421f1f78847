"""The Mesh: one workload's view of the mesh, and the factory for its httpx clients."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal

import httpx

from ._cluster_state import ClusterStates
from ._errors import ConfigError
from ._runtime_support import check_supported
from .balancing import ActiveRequests
from .config import Resource, load_config, parse_documents
from .routing import OUTBOUND_ALLOW_ANY, OUTBOUND_REGISTRY_ONLY, ClientIdentity, Snapshot
from .telemetry import RecordHook

ConfigSource = str | os.PathLike[str] | Sequence[Any] | None

_TRANSPORT_KEYS = ("verify", "cert", "limits", "http1", "http2", "trust_env")


def _resources(config: ConfigSource) -> list[Any]:
    """Resources from a path, a list of paths, or already-loaded resources (or dicts)."""
    if config is None:
        return []
    if isinstance(config, (str, os.PathLike)):
        return list(load_config(config))
    items = list(config)
    if all(isinstance(c, (str, os.PathLike)) for c in items):
        return list(load_config(*items))
    if any(isinstance(c, (str, os.PathLike)) for c in items):
        raise ConfigError("config mixes file paths and resources: pass one or the other")
    return list(parse_documents(items))


def latest(resources: Iterable[Any]) -> list[Any]:
    """One resource per (kind, namespace, name), the last given winning, as successive
    ``kubectl apply`` runs leave it (Bookinfo's tasks apply ``virtual-service-all-v1.yaml``
    and then a file that replaces the ``ratings`` VirtualService)."""
    out: dict[tuple[str, str, str], Any] = {}
    for r in resources:
        # a replaced resource keeps its place (its creation time, which Istio orders by)
        out[(r.kind, r.namespace, r.name)] = r
    return list(out.values())


class Mesh:
    """One workload in the mesh: who it is, the configuration it sees, and its clients.

    ``config`` takes a path, a list of paths, or already-loaded resources. ``apply``
    replaces the configuration atomically: requests in flight finish on the view they
    started with, and a configuration with any problem raises ``ConfigError`` and changes
    nothing. ``outbound_policy`` is Istio's ``outboundTrafficPolicy.mode``: ``ALLOW_ANY``
    (default) lets requests to non-mesh hosts go out directly; ``REGISTRY_ONLY`` answers
    them with 502 (BlackHoleCluster).
    """

    def __init__(
        self,
        *,
        service: str,
        namespace: str = "default",
        labels: Mapping[str, str] | None = None,
        config: ConfigSource = None,
        locality: str = "",
        address: str = "127.0.0.1",
        outbound_policy: Literal["ALLOW_ANY", "REGISTRY_ONLY"] = "ALLOW_ANY",
    ) -> None:
        if outbound_policy not in (OUTBOUND_ALLOW_ANY, OUTBOUND_REGISTRY_ONLY):
            raise ConfigError(
                f"outbound_policy must be ALLOW_ANY or REGISTRY_ONLY, not {outbound_policy!r}"
            )
        self.service = service
        self.namespace = namespace
        self.labels: dict[str, str] = dict(labels or {})
        self.identity = ClientIdentity(
            service=service,
            namespace=namespace,
            labels=self.labels,
            locality=locality,
            address=address,
        )
        self.outbound_policy = outbound_policy
        self.active = ActiveRequests()
        self.cluster_states = ClusterStates()
        self.hooks: tuple[RecordHook, ...] = ()
        self._lock = threading.Lock()
        self._revision = 0
        self.snapshot: Snapshot = self._compile(_resources(config))

    # -- configuration ------------------------------------------------------------------

    def _compile(self, resources: list[Any]) -> Snapshot:
        resources = latest(resources)
        check_supported(resources)
        self._revision += 1
        return Snapshot(
            resources,
            self.identity,
            active=self.active,
            outbound_policy=self.outbound_policy,
            revision=self._revision,
        )

    def apply(self, resources: Iterable[Resource] | Iterable[Mapping[str, Any]]) -> None:
        """Replace the whole configuration with ``resources``, atomically."""
        with self._lock:
            self.snapshot = self._compile(_resources(list(resources)))

    def apply_file(self, *paths: str | os.PathLike[str]) -> None:
        """Replace the whole configuration with the resources in ``paths``, atomically."""
        with self._lock:
            self.snapshot = self._compile(list(load_config(*paths)))

    @property
    def resources(self) -> tuple[Any, ...]:
        """The configuration in force."""
        return self.snapshot.resources

    # -- telemetry ------------------------------------------------------------------------

    def add_hook(self, hook: RecordHook) -> None:
        """Call ``hook`` with a RequestRecord after every request, successful or not."""
        self.hooks = (*self.hooks, hook)

    def remove_hook(self, hook: RecordHook) -> None:
        self.hooks = tuple(h for h in self.hooks if h is not hook)

    # -- clients ---------------------------------------------------------------------------

    def transport(self, **kwargs: Any) -> httpx.AsyncBaseTransport:
        """An async httpx transport through the mesh (``verify``, ``cert``, ``limits``,
        ``http1``, ``http2``, ``trust_env`` as httpx's own transport takes them)."""
        from ._transport import AsyncMeshTransport

        return AsyncMeshTransport(self, **kwargs)

    def sync_transport(self, **kwargs: Any) -> httpx.BaseTransport:
        """A sync httpx transport through the mesh."""
        from ._transport import SyncMeshTransport

        return SyncMeshTransport(self, **kwargs)

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` whose every request goes through the mesh."""
        tkw = {k: kwargs.pop(k) for k in _TRANSPORT_KEYS if k in kwargs}
        return httpx.AsyncClient(transport=self.transport(**tkw), **kwargs)

    def sync_client(self, **kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` whose every request goes through the mesh."""
        tkw = {k: kwargs.pop(k) for k in _TRANSPORT_KEYS if k in kwargs}
        return httpx.Client(transport=self.sync_transport(**tkw), **kwargs)

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Mesh:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def __enter__(self) -> Mesh:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None
