"""The connection pools: one per cluster endpoint and settings, as Envoy pools per host.

One cluster's TLS settings never touch another's traffic, and a request never scans the
idle connections of other hosts (httpcore checks every idle connection of a pool on each
request: with one pool per cluster, client CPU grew with the endpoint count).
``maxConnections`` caps each endpoint's pool; the cluster-wide limit is the pool gate's
admission (503 UO).

A pool's key includes its settings (TLS, connectionPool), so a configuration change gets
new pools at once. Pools no snapshot uses any more (changed settings, endpoints gone) are
retired when the snapshot changes (:func:`is_live`, a pure decision per pool in use) and
closed by the shell once idle, so requests still in flight on them finish.
"""

from __future__ import annotations

import importlib.util
import os
import ssl
import threading
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from ..routing import Snapshot
from ._endpoint import ISTIO_MUTUAL, Exchange, PoolKey

#: httpx's own default limits, for a transport built without ``limits``
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


def is_live(snapshot: Snapshot, key: PoolKey, generation: int | None = None) -> bool:
    """Whether ``snapshot`` can still use the pool ``key`` (mesh mTLS pools with
    certificate ``generation``; None: the workload has no certificate). What
    :func:`live_keys` answers for one key, by looking the key's cluster up instead of
    walking every cluster and endpoint: a swap costs the pools in use, not the mesh's size.
    PassthroughCluster pools always stay."""
    if key.passthrough:
        return True
    cluster = snapshot.cluster_named(key.cluster)
    if cluster is None:
        return False
    settings = cluster.pool_settings
    if key.settings == settings:
        if cluster.original_destination:
            return True  # any address the caller asks for
        return any(e.key == key.endpoint for e in cluster.endpoints)
    mtls = cluster.mtls if generation is not None else None
    if mtls is not None and key.settings == (settings, ISTIO_MUTUAL, generation):
        return mtls.applies_to(key.endpoint) and any(
            e.key == key.endpoint for e in cluster.endpoints
        )
    return False


def live_keys(snapshot: Snapshot, generation: int | None = None) -> set[PoolKey]:
    """Every pool key ``snapshot`` can use (a walk of every cluster and endpoint: for
    tests and tools; a swap asks :func:`is_live` about the pools it has), mesh mTLS pools
    with certificate ``generation``
    (None: the workload has no certificate). An original-destination cluster (ServiceEntry
    ``resolution: NONE``) has no endpoint list: its pools are keyed with the endpoint
    ``*``, meaning any."""
    out: set[PoolKey] = set()
    for cluster in snapshot.clusters.values():
        settings = cluster.pool_settings
        if cluster.original_destination:
            out.add(PoolKey(cluster.name, "*", settings))
        mtls = cluster.mtls if generation is not None else None
        for e in cluster.endpoints:
            out.add(PoolKey(cluster.name, e.key, settings))
            if mtls is not None and mtls.applies_to(e.key):
                out.add(PoolKey(cluster.name, e.key, (settings, ISTIO_MUTUAL, generation)))
    return out


def retired(keys: Iterable[PoolKey], live: set[PoolKey]) -> list[PoolKey]:
    """The pools to retire: those ``live`` no longer names (passthrough pools stay)."""
    return [k for k in keys if not k.passthrough and k not in live and k.any_endpoint not in live]


_DEFAULT_CONTEXTS: dict[tuple[str | None, str | None], ssl.SSLContext] = {}


def app_ssl_context(verify: ssl.SSLContext | str | bool, cert: Any, trust_env: bool) -> Any:
    """The application's TLS settings for its own ``https`` requests, as httpx makes them.

    httpx's defaults (``verify=True``, no client certificate) are made once per process
    and shared: loading the CA bundle costs ~70 ms, which every ``mesh.client()`` paid.
    The environment's ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` (read with ``trust_env``) are
    part of the key, so a change still gets its own context."""
    if verify is not True or cert is not None:
        return httpx.create_ssl_context(verify=verify, cert=cert, trust_env=trust_env)
    env = (
        (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
        if trust_env
        else (None, None)
    )
    context = _DEFAULT_CONTEXTS.get(env)
    if context is None:
        context = httpx.create_ssl_context(verify=True, trust_env=trust_env)
        _DEFAULT_CONTEXTS[env] = context
    return context


def _httpx_default(verify: ssl.SSLContext | str | bool, cert: Any, trust_env: bool) -> bool:
    """Whether these are httpx's default TLS settings (verification, no client
    certificate) with CA locations that exist: certifi's bundle, or the environment's
    ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when they name an existing file / directory."""
    if verify is not True or cert is not None:
        return False
    if not trust_env:
        return True
    file, directory = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    return (not file or os.path.isfile(file)) and (not directory or os.path.isdir(directory))


def _unused(pool: Any) -> bool:
    """No request in ``pool``: none queued, none on a connection, no body still open.

    httpcore registers a request in the pool (``_requests``) before its first await and
    removes it when the response is closed; a connection only turns from idle to active
    later, after it was assigned. So "every connection idle" alone can close a connection
    under a request that was just given it (seen as a reset right at a certificate
    rotation); the request list cannot. (httpcore is pinned; ``_requests`` is its own.)
    """
    if getattr(pool, "_requests", None):
        return False
    return all(c.is_idle() for c in pool.connections)


class Pools:
    """httpcore pools by PoolKey, built with the application's options; ``factory`` is
    ``httpcore.AsyncConnectionPool`` or ``httpcore.ConnectionPool``."""

    def __init__(
        self,
        factory: type[Any],
        *,
        identity_backend: Callable[[Iterable[str], Any], Any],
        verify: ssl.SSLContext | str | bool,
        cert: Any,
        limits: httpx.Limits,
        http1: bool,
        http2: bool,
        trust_env: bool,
        network_backend: Any = None,
    ) -> None:
        if http2 and importlib.util.find_spec("h2") is None:
            # as httpx's own transport refuses it, rather than fall back to HTTP/1.1
            raise ImportError(
                "Using http2=True, but the 'h2' package is not installed. "
                "Make sure to install httpx using `pip install httpx[http2]`."
            )
        self._factory = factory
        self._identity_backend = identity_backend
        #: httpcore's network backend for every pool (None: its own sockets)
        self._network_backend = network_backend
        # httpx's default TLS settings are made on the first https request: a process that
        # calls only plain-HTTP services through the mesh never loads a CA bundle (~1.6
        # MiB resident). Any other setting (or a CA location that does not exist) is made
        # now, so that a bad one fails here, as it does in httpx.Client().
        self._app_settings = (verify, cert, trust_env)
        self._app_context: ssl.SSLContext | None = (
            None
            if _httpx_default(verify, cert, trust_env)
            else app_ssl_context(*self._app_settings)
        )
        #: pools built while there was no app context (only plain-HTTP requests so far)
        self._plain: set[PoolKey] = set()
        self._limits = limits
        self._http1 = http1
        self._http2 = http2
        self.pools: dict[PoolKey, Any] = {}
        self.retiring: list[Any] = []
        self._lock = threading.Lock()
        self._revision = -1
        self._generation = 0

    def get(self, ex: Exchange) -> Any:
        """The pool for ``ex`` (built on first use)."""
        if self._app_context is None and ex.core.url.scheme == b"https":
            self._load_app_context()
        if ex.snapshot.revision != self._revision or ex.generation > self._generation:
            self._sweep(ex.snapshot, ex.generation)
        pool = self.pools.get(ex.pool_key)
        if pool is not None:
            return pool
        with self._lock:
            pool = self.pools.get(ex.pool_key)
            if pool is None:
                pool = self.pools[ex.pool_key] = self._new(ex)
        return pool

    def _sweep(self, snapshot: Snapshot, generation: int) -> None:
        """A new snapshot or a new certificate: retire the pools neither uses."""
        with self._lock:
            if snapshot.revision <= self._revision and generation <= self._generation:
                return
            self._revision = max(snapshot.revision, self._revision)
            self._generation = max(generation, self._generation)
            gen = self._generation or None
            for key in [k for k in self.pools if not is_live(snapshot, k, gen)]:
                self.retiring.append(self.pools.pop(key))
                self._plain.discard(key)

    def _load_app_context(self) -> None:
        """The first https request: make httpx's default context, and retire the pools
        built without it (their requests finish; the next ones get pools that have it)."""
        with self._lock:
            if self._app_context is not None:
                return
            self._app_context = app_ssl_context(*self._app_settings)
            for key in self._plain:
                pool = self.pools.pop(key, None)
                if pool is not None:
                    self.retiring.append(pool)
            self._plain = set()

    def idle_retired(self) -> list[Any]:
        """Retired pools with no request in them: the shell closes them."""
        if not self.retiring:
            return []
        with self._lock:
            idle = [p for p in self.retiring if _unused(p)]
            self.retiring = [p for p in self.retiring if p not in idle]
        return idle

    def take_all(self) -> list[Any]:
        """Every pool, live or retiring, for the shell to close (the transport is closing)."""
        with self._lock:
            out = [*self.pools.values(), *self.retiring]
            self.pools, self.retiring = {}, []
        return out

    def _new(self, ex: Exchange) -> Any:
        limits = self._limits
        max_connections = limits.max_connections
        max_keepalive = limits.max_keepalive_connections
        keepalive = limits.keepalive_expiry
        cluster = ex.cluster
        if cluster is not None:
            pl = cluster.state.limits
            # connectionPool.tcp.maxConnections caps the cluster's connections.
            if max_connections is None or pl.max_connections < max_connections:
                max_connections = pl.max_connections
            if cluster.policy.connection_pool is not None and pl.idle_timeout is not None:
                keepalive = pl.idle_timeout  # connectionPool.http.idleTimeout
            if pl.max_requests_per_connection == 1:
                max_keepalive = 0  # maxRequestsPerConnection: 1 turns keep-alive off
        if ex.workload_tls is not None and ex.mtls is not None:
            # mesh mTLS: the workload certificate, and the server checked by its SPIFFE
            # identity inside the connect step (no request byte goes to a wrong one)
            return self._factory(
                ssl_context=ex.workload_tls.client,
                max_connections=max_connections,
                max_keepalive_connections=max_keepalive,
                keepalive_expiry=keepalive,
                http1=self._http1,
                http2=self._http2,
                network_backend=self._identity_backend(ex.mtls.identities, self._network_backend),
            )
        ssl_context: ssl.SSLContext | None
        if ex.tls is not None:
            ssl_context = ex.tls.context()
        else:
            ssl_context = self._app_context
            if ssl_context is None:
                self._plain.add(ex.pool_key)
        return self._factory(
            ssl_context=ssl_context,
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive,
            keepalive_expiry=keepalive,
            http1=self._http1,
            http2=self._http2,
            network_backend=self._network_backend,
        )
