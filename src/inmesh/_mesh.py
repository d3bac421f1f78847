"""The Mesh: one workload's view of the mesh, and the factory for its httpx clients."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import httpx

from ._cluster_state import ClusterStates
from ._config_source import ConfigSource, named_by, resources_of
from ._errors import ConfigError
from ._state import MeshState, NetworkBackends
from ._workload_telemetry import AccessLogSetting, WorkloadTelemetry
from .balancing import ActiveRequests
from .config import load_config
from .routing import OUTBOUND_ALLOW_ANY, OUTBOUND_REGISTRY_ONLY, ClientIdentity, Snapshot
from .routing._compiler import Compiler
from .telemetry import RecordHook

if TYPE_CHECKING:
    from .config import Resource
    from .registry.client import RegistryView, Rejection
    from .security import SpiffeId, TLSHolder
    from .telemetry import MeshTracer, Tracing
    from .telemetry._policy import TelemetryPolicy

_TRANSPORT_KEYS = ("verify", "cert", "limits", "http1", "http2", "trust_env")
log = logging.getLogger("inmesh")


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

    Identity: ``service_account`` (default: the service name) and ``trust_domain`` make the
    workload's SPIFFE ID; with ``ca`` (a CA directory, ``inmesh ca init DIR``) the Mesh
    issues itself a certificate (``cert_ttl`` seconds, default the CA's 24 h) and renews it
    at half-life. Then ``ISTIO_MUTUAL`` and Istio's auto mTLS present it (docs/security.md).

    Telemetry, as a sidecar always has it: Istio's standard metrics are recorded into the
    process's registry (``inmesh.telemetry.default_metrics()``; ``metrics=False`` opts out),
    and requests to mesh services carry Istio's metadata exchange headers
    (docs/observability.md). ``tracing``: a :class:`~inmesh.telemetry.Tracing` (sampling
    percentage, tags, provider), True for Istio's defaults (1%), False for none; by default
    tracing is on when the ``OTEL_*`` environment names an OTLP endpoint.
    Telemetry: ``access_log`` (``True``/``"text"``: Istio's default TEXT line, ``"json"``)
    writes one line per request to the ``inmesh.access`` logger, as MeshConfig's
    ``accessLogFile``/``accessLogEncoding``; Telemetry resources (``telemetry.istio.io``)
    that configure access logging take precedence, and also turn it on without it
    (docs/observability.md).

    ``network`` replaces the sockets under the connection pools (``inmesh.testing`` serves
    workloads in memory and injects network faults there; docs/testing.md).
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
        service_account: str | None = None,
        ca: str | os.PathLike[str] | None = None,
        trust_domain: str = "cluster.local",
        cert_ttl: float | None = None,
        metrics: bool = True,
        tracing: Tracing | bool | None = None,
        access_log: AccessLogSetting = False,
        network: NetworkBackends | None = None,
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
            trust_domain=trust_domain,
        )
        #: the Kubernetes service account this workload runs as (its SPIFFE identity's)
        self.service_account = service_account or service
        self._ca = os.fspath(ca) if ca is not None else None
        #: the certificate lifetime to ask for (Istio's SECRET_TTL); None: the CA's default
        self._cert_ttl = cert_ttl
        self._workload_identity: Any = None
        self.outbound_policy = outbound_policy
        self.active = ActiveRequests()
        self.cluster_states = ClusterStates()
        self._lock = threading.Lock()
        self._revision = 0
        self._local: list[Any] = resources_of(config)
        self._from_registry: tuple[Any, ...] = ()
        self._logged: set[tuple[str, str, str, str]] = set()
        self.registry = registry or None
        self._token = token if token is not None else os.environ.get("INMESH_TOKEN")
        self._cache_file = os.fspath(cache_file) if cache_file is not None else None
        self._first_view_timeout = first_view_timeout
        self._watch: Any = None
        #: builds each snapshot from the parts of the last one (routing/_compiler.py)
        self._compiler = Compiler(self.identity, active=self.active, states=self.cluster_states)
        self._state = MeshState(
            snapshot=self._compile(self._local), identity=self.identity, active=self.active
        )
        #: httpcore network backends the clients connect through (None: real sockets)
        self._state.network = network
        self._telemetry = WorkloadTelemetry(
            self._state,
            namespace=namespace,
            labels=self.labels,
            service=service,
            service_account=self.service_account,
            metrics=metrics,
            tracing=tracing,
            access_log=access_log,
        )
        self._telemetry.changed(self._state.snapshot)
        if self._ca is not None:
            self._start_identity(self._ca)
        if self.registry is not None:
            # Requests before the registry's first view would route on local files alone.
            self._state.not_ready = (
                "this Mesh takes its configuration from a registry: enter it first "
                "(`async with mesh:` or `with mesh:`), or call mesh.start()"
            )

    @property
    def snapshot(self) -> Snapshot:
        """The compiled configuration in force (swapped atomically on every change)."""
        return self._state.snapshot

    @snapshot.setter
    def snapshot(self, value: Snapshot) -> None:
        self._state.snapshot = value
        self._telemetry.changed(value)

    @property
    def telemetry(self) -> TelemetryPolicy:
        """The Telemetry API's policy for this workload (recomputed on every change)."""
        return self._state.telemetry

    # -- identity ---------------------------------------------------------------------------

    @property
    def spiffe_id(self) -> SpiffeId:
        """``spiffe://<trust domain>/ns/<namespace>/sa/<service account>``."""
        from .security import SpiffeId

        return SpiffeId(self.identity.trust_domain, self.namespace, self.service_account)

    @property
    def tls(self) -> TLSHolder | None:
        """The workload certificate (renewed in place), or None without an identity."""
        return self._state.tls

    def _start_identity(self, ca_dir: str) -> None:
        from ._identity import from_ca_dir

        self._workload_identity = from_ca_dir(self.spiffe_id, ca_dir, ttl=self._cert_ttl)
        self._state.tls = self._workload_identity.start()

    # -- tracing ------------------------------------------------------------------------------

    @property
    def tracing(self) -> MeshTracer | None:
        """The tracing in force (None: not configured); assign a new ``MeshTracer`` (e.g.
        ``mesh.tracing.with_sampling(10)``) to change it for the next requests."""
        return self._state.tracing

    @tracing.setter
    def tracing(self, value: MeshTracer | None) -> None:
        self._telemetry.set_tracer(value)

    @property
    def hooks(self) -> tuple[RecordHook, ...]:
        """The record hooks, called after every request."""
        return self._state.hooks

    # -- configuration ------------------------------------------------------------------

    def _compile(self, resources: list[Any]) -> Snapshot:
        # Only the parts the change touches are rebuilt; resilience state (ejections,
        # in-flight counts) carries over while a cluster's policy is unchanged, as Envoy
        # keeps it across pushes (ClusterStates). One resource per kind/namespace/name,
        # the last given winning; the support check runs on what changed.
        tables = self._compiler.compile(resources)
        snapshot = Snapshot.of(
            tables,
            self.identity,
            active=self.active,
            outbound_policy=self.outbound_policy,
            revision=self._revision + 1,
        )
        self._revision += 1
        return snapshot

    def apply(
        self,
        resources: str
        | os.PathLike[str]
        | Iterable[Resource]
        | Iterable[Mapping[str, Any]]
        | Iterable[str | os.PathLike[str]],
    ) -> None:
        """Replace the local configuration with ``resources`` (a path, paths, or resources),
        atomically (what the registry pushes stays, and overrides local resources of the
        same kind and name)."""
        if isinstance(resources, (str, os.PathLike)):
            self._replace_local(resources_of(resources))  # one path, as Mesh(config=) takes it
            return
        self._replace_local(resources_of(list(resources)))

    def apply_file(self, *paths: str | os.PathLike[str]) -> None:
        """Replace the local configuration with the resources in ``paths``, atomically."""
        self._replace_local(list(load_config(*paths)))

    def _replace_local(self, local: list[Any]) -> None:
        with self._lock:
            self.snapshot = self._compile([*local, *self._from_registry])
            self._local = local

    def _on_view(self, view: RegistryView) -> list[Rejection]:
        """A registry push: compile local files plus the view. A resource the runtime
        cannot use is skipped (logged once, and returned so the registry can show it, as
        ``istioctl proxy-status`` does), and everything else is applied: as an Envoy
        proxy rejects one resource of a push and keeps the rest."""
        from .registry.client import Rejection

        with self._lock:
            pushed = list(view.resources)
            rejected: list[Rejection] = []
            for _ in range(len(pushed) + 1):
                try:
                    self.snapshot = self._compile([*self._local, *pushed])
                except ConfigError as exc:
                    bad = named_by(exc, pushed)
                    if not bad:  # not one resource's fault (the local files'): keep the last
                        log.error("registry revision %d not applied: %s", view.revision, exc)
                        return rejected
                    for r, reason in bad:
                        rejected.append(Rejection(r.kind, r.namespace, r.name, reason))
                        self._log_rejection(view.revision, r, reason)
                    skip = {id(r) for r, _ in bad}
                    pushed = [r for r in pushed if id(r) not in skip]
                    continue
                self._from_registry = tuple(pushed)
                self._state.not_ready = None
                return rejected
            return rejected

    def _log_rejection(self, revision: int, resource: Any, reason: str) -> None:
        key = (resource.kind, resource.namespace, resource.name, reason)
        if key in self._logged:
            return  # once per resource and reason, not on every push
        self._logged.add(key)
        log.warning(
            "registry revision %d: %s %s/%s skipped: %s",
            revision,
            resource.kind,
            resource.namespace,
            resource.name,
            reason,
        )

    @property
    def resources(self) -> tuple[Any, ...]:
        """The configuration in force."""
        return self.snapshot.resources

    def add_hook(self, hook: RecordHook) -> None:
        """Call ``hook`` with a RequestRecord after every request, successful or not."""
        self._state.hooks = (*self._state.hooks, hook)

    def remove_hook(self, hook: RecordHook) -> None:
        self._state.hooks = tuple(h for h in self._state.hooks if h is not hook)

    # -- clients ---------------------------------------------------------------------------

    def transport(self, **kwargs: Any) -> httpx.AsyncBaseTransport:
        """An async httpx transport through the mesh (``verify``, ``cert``, ``limits``,
        ``http1``, ``http2``, ``trust_env`` as httpx's own transport takes them)."""
        from .outbound import AsyncMeshTransport

        return AsyncMeshTransport(self._state, **kwargs)

    def sync_transport(self, **kwargs: Any) -> httpx.BaseTransport:
        """A sync httpx transport through the mesh."""
        from .outbound import SyncMeshTransport

        return SyncMeshTransport(self._state, **kwargs)

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
        from .registry.client import ProxyInfo, RegistryClient

        client = RegistryClient(
            self.registry,
            self._token,
            cache_file=self._cache_file,
            proxy=ProxyInfo(service=self.service, namespace=self.namespace, labels=self.labels),
        )
        # One background thread with its own event loop serves sync and async apps alike;
        # views are compiled there and swapped in with one assignment.
        self._watch = client.start_in_thread(self._on_view, first_timeout=self._first_view_timeout)
        try:
            self._watch.wait_first()
            if self._ca is None and self._workload_identity is None:
                self._identity_from_registry(self._watch)
        except BaseException:
            self.close()
            raise

    def _identity_from_registry(self, watch: Any) -> None:
        """Have the registry's CA sign this workload's certificate (istiod's role)."""
        from ._identity import from_registry

        def install(holder: TLSHolder) -> None:
            self._state.tls = holder

        self._workload_identity = from_registry(
            self.spiffe_id, watch.sign, ttl=self._cert_ttl, install=install
        )

    def close(self) -> None:
        """Stop watching the registry. The last snapshot keeps routing."""
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.stop()
        if self._workload_identity is not None:
            self._workload_identity.stop()  # the certificate stays valid until it expires

    async def __aenter__(self) -> Mesh:
        if self.registry is not None:
            import anyio.to_thread  # here: a sync-only process never loads it

            await anyio.to_thread.run_sync(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._watch is not None:
            import anyio.to_thread

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
