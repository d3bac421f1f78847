"""The Mesh: one workload's view of the mesh, and the factory for its httpx clients."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.to_thread
import httpx

from ._cluster_state import ClusterStates
from ._errors import ConfigError
from ._runtime_support import check_supported
from .balancing import ActiveRequests
from .config import load_config, parse_documents
from .routing import OUTBOUND_ALLOW_ANY, OUTBOUND_REGISTRY_ONLY, ClientIdentity, Snapshot
from .telemetry import RecordHook

if TYPE_CHECKING:
    from .config import Resource

ConfigSource = str | os.PathLike[str] | Sequence[Any] | None

_TRANSPORT_KEYS = ("verify", "cert", "limits", "http1", "http2", "trust_env")
log = logging.getLogger("inmesh")


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

    With ``registry`` (and a join ``token``, default ``$INMESH_TOKEN``) the Mesh also takes
    the registry's configuration and live workloads, pushed as they change; they override
    local resources of the same kind, namespace and name. ``cache_file`` keeps the last
    view so that a process restarted while the registry is down still routes.
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
        registry: str | None = None,
        token: str | None = None,
        cache_file: str | os.PathLike[str] | None = None,
        first_view_timeout: float = 10.0,
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
        self._local: list[Any] = _resources(config)
        self._from_registry: tuple[Any, ...] = ()
        self.registry = registry or None
        self._token = token if token is not None else os.environ.get("INMESH_TOKEN")
        self._cache_file = os.fspath(cache_file) if cache_file is not None else None
        self._first_view_timeout = first_view_timeout
        self._watch: Any = None
        self.snapshot: Snapshot = self._compile(self._local)

    # -- configuration ------------------------------------------------------------------

    def _compile(self, resources: list[Any]) -> Snapshot:
        resources = latest(resources)
        check_supported(resources)
        snapshot = Snapshot(
            resources,
            self.identity,
            active=self.active,
            outbound_policy=self.outbound_policy,
            revision=self._revision + 1,
            # resilience state (ejections, in-flight counts) carries over while a cluster's
            # policy is unchanged, as Envoy keeps it across pushes
            states=self.cluster_states,
        )
        self._revision += 1
        return snapshot

    def apply(self, resources: Iterable[Resource] | Iterable[Mapping[str, Any]]) -> None:
        """Replace the local configuration with ``resources``, atomically (what the
        registry pushes stays, and overrides local resources of the same kind and name)."""
        self._replace_local(_resources(list(resources)))

    def apply_file(self, *paths: str | os.PathLike[str]) -> None:
        """Replace the local configuration with the resources in ``paths``, atomically."""
        self._replace_local(list(load_config(*paths)))

    def _replace_local(self, local: list[Any]) -> None:
        with self._lock:
            self.snapshot = self._compile([*local, *self._from_registry])
            self._local = local

    def _on_view(self, view: Any) -> None:
        """A registry push: compile local files plus the view; a view the runtime cannot
        take is logged and the last good snapshot keeps routing."""
        with self._lock:
            try:
                self.snapshot = self._compile([*self._local, *view.resources])
            except ConfigError as exc:
                log.error("registry revision %d not applied: %s", view.revision, exc)
                return
            self._from_registry = tuple(view.resources)

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

    def start(self) -> None:
        """Connect to the registry (when one is configured) and wait, at most
        ``first_view_timeout`` seconds, for its first view; a cached view stands in while
        the registry is unreachable. Idempotent; ``with``/``async with`` call it."""
        if self.registry is None or self._watch is not None:
            return
        from .registry import RegistryClient

        client = RegistryClient(self.registry, self._token, cache_file=self._cache_file)
        # One background thread with its own event loop serves sync and async apps alike;
        # views are compiled there and swapped in with one assignment.
        self._watch = client.start_in_thread(self._on_view, first_timeout=self._first_view_timeout)
        try:
            self._watch.wait_first()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop watching the registry. The last snapshot keeps routing."""
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.stop()

    async def __aenter__(self) -> Mesh:
        if self.registry is not None:
            await anyio.to_thread.run_sync(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._watch is not None:
            await anyio.to_thread.run_sync(self.close)

    def __enter__(self) -> Mesh:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
