"""The endpoint tier: one attempt to one address, as an httpcore request.

The attempt's time (per-try timeout, or what the route has left) and ``connectTimeout``
become httpcore's per-phase timeouts; TLS (a DestinationRule's, or the application's own
``https``) sets the SNI. Each endpoint of each cluster has its own connection pool, keyed
by a :class:`PoolKey`, as Envoy pools per upstream host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import httpcore
import httpx

from .._flags import PASSTHROUGH_CLUSTER

if TYPE_CHECKING:
    from ..balancing import Endpoint
    from ..routing import Cluster, MeshMTLS, Snapshot
    from ..security import WorkloadTLS
    from ..security._upstream_tls import UpstreamTLS

#: the pool settings' marker of mesh mTLS pools (with the certificate generation)
ISTIO_MUTUAL = "ISTIO_MUTUAL"


class PoolKey(NamedTuple):
    """Which connection pool an attempt uses: a cluster's endpoint with the pool's settings
    (TLS, connectionPool), so that new settings get a new pool. A tuple, for the cheapest
    hashing on the request path."""

    cluster: str
    endpoint: str
    #: the cluster's pool settings; None for the PassthroughCluster (no policy applies)
    settings: object

    @property
    def passthrough(self) -> bool:
        return self.settings is None and self.cluster == PASSTHROUGH_CLUSTER

    @property
    def any_endpoint(self) -> PoolKey:
        """The same pool key for any address (an original-destination cluster's pools)."""
        return PoolKey(self.cluster, "*", self.settings)


@dataclass(slots=True, kw_only=True)
class Exchange:
    """One attempt on its way to one endpoint."""

    core: httpcore.Request
    endpoint_key: str
    pool_key: PoolKey
    #: what a new pool for this attempt is built from (None: the PassthroughCluster)
    cluster: Cluster | None
    tls: UpstreamTLS | None
    #: mesh mTLS for this attempt: the cluster's setting and the workload certificate
    mtls: MeshMTLS | None = None
    workload_tls: WorkloadTLS | None = None
    #: the certificate generation the mTLS pool key names (0 without mTLS)
    generation: int = 0
    #: the snapshot the request started on (a new one retires pools it no longer uses)
    snapshot: Snapshot
    #: the attempt's time: per-try timeout or what the route has left (None: unbounded)
    timeout: float | None
    #: a read timeout is the attempt's (the mesh's), not the application's own
    timed_by_mesh: bool
    recorded: bool = False


_NO_TIMEOUTS: dict[str, float | None] = {}
_new = object.__new__
_CoreRequest = httpcore.Request
_CoreURL = httpcore.URL


def core_request(
    method: bytes,
    scheme: bytes,
    host: bytes,
    port: int,
    target: bytes,
    headers: list[tuple[bytes, bytes]],
    stream: Any,
    extensions: dict[str, Any],
) -> httpcore.Request:
    """An httpcore request from parts httpx has already validated.

    httpcore's constructor checks every header's type again (about 4 us a request, most of
    the endpoint tier's cost): the method, headers and stream come from an ``httpx.Request``
    (validated when it was built) and the address from the snapshot, so the attributes are
    set directly. A unit test compares the result with the checked constructor's, so an
    httpcore upgrade that adds an attribute is caught.
    """
    url = _new(_CoreURL)
    url.scheme = scheme
    url.host = host
    url.port = port
    url.target = target
    req = _new(_CoreRequest)
    req.method = method
    req.url = url
    req.headers = headers
    req.stream = stream
    req.extensions = extensions
    return req


def exchange_for(
    *,
    request: httpx.Request,
    endpoint: Endpoint,
    cluster: Cluster | None,
    tls: UpstreamTLS | None,
    https: bool,
    server_name: str,
    raw_path: bytes,
    headers: list[tuple[bytes, bytes]],
    timeout: float | None,
    snapshot: Snapshot,
    mtls: MeshMTLS | None = None,
    workload_tls: WorkloadTLS | None = None,
    generation: int = 0,
) -> Exchange:
    """The attempt for ``endpoint``: its httpcore request, timeouts and pool key.
    ``workload_tls`` (with ``mtls``) makes it mesh mTLS with that certificate."""
    extensions = request.extensions
    if workload_tls is not None and mtls is not None:
        scheme = b"https"
        extensions = {**extensions, "sni_hostname": mtls.sni}
    elif tls is not None:
        scheme = b"https"
        extensions = {**extensions, "sni_hostname": tls.sni}
    elif https:
        # The application speaks TLS itself: keep its server name for SNI and checks.
        scheme = b"https"
        extensions = {**extensions, "sni_hostname": server_name}
    else:
        scheme = b"http"
    app = extensions.get("timeout") or _NO_TIMEOUTS
    connect = app.get("connect")
    if cluster is not None:
        # connectTimeout (Istio default 10 s) and the application's own: the shorter.
        limit = cluster.state.limits.connect_timeout
        if connect is None or limit < connect:
            connect = limit
    ours = False
    if timeout is None:
        if connect != app.get("connect"):
            extensions = {**extensions, "timeout": {**app, "connect": connect}}
    else:
        # The attempt's time (per-try timeout, or what the route has left) caps each of
        # httpcore's timeouts: pool wait, connect, write and read, each bounded by it (a
        # blocking read cannot be interrupted otherwise). When the application's own read
        # timeout is shorter it stays in force, and a timeout is then the application's
        # (httpx.ReadTimeout).
        t = timeout if timeout > 1e-3 else 1e-3
        read = app.get("read")
        ours = read is None or timeout < read
        pool = app.get("pool")
        write = app.get("write")
        extensions = {
            **extensions,
            "timeout": {
                "connect": t if connect is None or t < connect else connect,
                "read": t if ours else read,
                "write": t if write is None or t < write else write,
                "pool": t if pool is None or t < pool else pool,
            },
        }
    core = core_request(
        request.method.encode("ascii"),
        scheme,
        endpoint.address.encode("ascii"),
        endpoint.port,
        raw_path,
        headers,
        request.stream,
        extensions,
    )
    key = endpoint.key
    if cluster is None:
        pool_key = PoolKey(PASSTHROUGH_CLUSTER, key, None)
    elif workload_tls is not None:
        # a rotated certificate gets new pools; connections open on the old one finish
        pool_key = PoolKey(cluster.name, key, (cluster.pool_settings, ISTIO_MUTUAL, generation))
    else:
        keys = cluster.pool_keys  # one per endpoint, made once
        if keys is None:
            keys = cluster.pool_keys = {}
        known: PoolKey | None = keys.get(key)
        if known is None:
            known = keys[key] = PoolKey(cluster.name, key, cluster.pool_settings)
        pool_key = known
    return Exchange(
        core=core,
        endpoint_key=key,
        pool_key=pool_key,
        cluster=cluster,
        tls=tls,
        mtls=mtls if workload_tls is not None else None,
        workload_tls=workload_tls,
        generation=generation if workload_tls is not None else 0,
        snapshot=snapshot,
        timeout=timeout,
        timed_by_mesh=ours,
    )
