"""Clusters: one (service, subset, port) with its endpoints, balancer and policy.

The name follows Envoy's cluster naming in Istio, ``outbound|<port>|<subset>|<host>``, so
telemetry reads as it does under Istio.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._cluster_state import ClusterState, ClusterStates
from .._namespaces import selects
from ..balancing import (
    ActiveRequests,
    Balancer,
    BalancerPolicy,
    Distribute,
    Endpoint,
    Failover,
    LocalityBalancer,
    LocalitySetting,
    balancer_kind,
    hash_policy,
    make_balancer,
)
from ..security._upstream_tls import UpstreamTLS
from ._mtls import MeshMTLS, mesh_mtls
from ._policy import EffectivePolicy
from ._services import Port, Service


def balancer_policy(lb: Any) -> BalancerPolicy:
    """Translate Istio's ``LoadBalancerSettings`` into the balancer's own policy:
    consistentHash uses a ring hash unless ``maglev`` is set; ``simple`` follows
    ``balancer_kind`` (LEAST_REQUEST by default)."""
    if lb is None:
        return BalancerPolicy()
    ch = lb.consistent_hash
    if ch is not None:
        if ch.maglev is not None:
            return BalancerPolicy(kind="MAGLEV", maglev_table_size=ch.maglev.table_size or 65537)
        ring = ch.ring_hash
        size = (ring.minimum_ring_size if ring is not None else None) or ch.minimum_ring_size
        return BalancerPolicy(kind="RING_HASH", minimum_ring_size=size or 1024)
    return BalancerPolicy(kind=balancer_kind(lb.simple))


def locality_setting(lb: Any) -> LocalitySetting | None:
    """Istio's ``localityLbSetting`` as the balancer's dataclass (None when unset)."""
    s = getattr(lb, "locality_lb_setting", None) if lb is not None else None
    if s is None:
        return None
    return LocalitySetting(
        distribute=tuple(Distribute(d.from_ or "", dict(d.to or {})) for d in s.distribute or ()),
        failover=tuple(Failover(f.from_ or "", f.to or "") for f in s.failover or ()),
        failover_priority=tuple(s.failover_priority or ()),
        enabled=s.enabled is not False,
    )


def build_balancer(
    policy: Any, endpoints: tuple[Endpoint, ...], active: ActiveRequests, client: Any
) -> Balancer:
    """The balancer of a cluster: locality-aware when the client and the endpoints have
    localities. Istio only fails over between localities when outlier detection is
    configured for the destination, so that is what enables failover here."""
    lb = policy.load_balancer
    bp = balancer_policy(lb)
    if client.locality and any(e.locality for e in endpoints):
        return LocalityBalancer(
            bp,
            endpoints,
            active,
            client_locality=client.locality,
            setting=locality_setting(lb),
            failover_enabled=policy.outlier_detection is not None,
            client_labels=client.labels,
        )
    return make_balancer(bp, endpoints, active)


def cluster_name(port: int, subset: str | None, host: str) -> str:
    """Istio's Envoy cluster name: ``outbound|<port>|<subset>|<host>``."""
    return f"outbound|{port}|{subset or ''}|{host}"


_DEFAULT_POLICY = BalancerPolicy()


def _checked_policy(lb: Any) -> BalancerPolicy:
    """``balancer_policy`` and ``locality_setting`` of ``lb``, run for their validation:
    a bad value raises ConfigError when the configuration is compiled, not on the first
    request (the balancer itself is built then)."""
    if lb is None:
        return _DEFAULT_POLICY
    locality_setting(lb)
    return balancer_policy(lb)


class Cluster:
    """Endpoints of one (service, subset, port), how to pick one, and the policy in force.

    What only a request needs is built on the first request that reaches the cluster: its
    balancer and its resilience state (a 5,000-service mesh has 20,000 clusters; a client
    calls a few). The state comes from the Mesh's ClusterStates, so it carries over
    between snapshots whether it was taken early or late.
    """

    __slots__ = (
        "_active",
        "_balancer",
        "_client",
        "_pool_settings",
        "_state",
        "_states",
        "endpoints",
        "hash",
        "mtls",
        "name",
        "policy",
        "pool_keys",
        "port",
        "service",
        "subset",
        "tls",
    )

    def __init__(
        self,
        *,
        name: str,
        service: Service,
        subset: str | None,
        port: Port,
        endpoints: tuple[Endpoint, ...],
        policy: EffectivePolicy,
        active: ActiveRequests,
        client: Any,
        state: ClusterState | None = None,
        states: ClusterStates | None = None,
    ) -> None:
        self.service = service
        self.subset = subset
        self.port = port
        self.endpoints = endpoints
        self.policy = policy
        self.name = name
        self._state = state
        self._states = states
        self._active = active
        self._client = client
        self._balancer: Balancer | None = None
        self._pool_settings: tuple[object, ...] | None = None
        #: the outbound tier's connection pool key of each endpoint (by endpoint key),
        #: made on first use: kept here, as long as the cluster is
        self.pool_keys: dict[str, Any] | None = None
        _checked_policy(policy.load_balancer)
        self.hash = hash_policy(policy.load_balancer, client.address)
        self.tls = UpstreamTLS.of(policy.tls, service.host)
        self.mtls: MeshMTLS | None = mesh_mtls(
            tls=policy.tls,
            endpoints=endpoints,
            namespace=service.namespace,
            subject_alt_names=service.subject_alt_names,
            trust_domain=client.trust_domain,
            port=port.number,
            subset=subset,
            host=service.host,
        )

    @property
    def state(self) -> ClusterState:
        """Admission gate, retry limiter, outlier detector (taken on first use)."""
        st = self._state
        if st is None:
            states = self._states if self._states is not None else ClusterStates()
            st = self._state = states.get(self.name, self.policy, [e.key for e in self.endpoints])
        return st

    @property
    def balancer(self) -> Balancer:
        """How an endpoint is picked (built on first use)."""
        b = self._balancer
        if b is None:
            b = self._balancer = build_balancer(
                self.policy, self.endpoints, self._active, self._client
            )
        return b

    @property
    def pool_settings(self) -> tuple[object, ...]:
        """What a connection pool of this cluster is built with: TLS settings, and the
        connectionPool fields the pool applies (a change gets new pools)."""
        ps = self._pool_settings
        if ps is None:
            limits = self.state.limits
            ps = self._pool_settings = (
                self.tls.context_key if self.tls is not None else None,
                self.tls.mode if self.tls is not None else None,
                limits.max_connections,
                limits.max_requests_per_connection,
                limits.idle_timeout if self.policy.connection_pool is not None else None,
            )
        return ps

    @property
    def original_destination(self) -> bool:
        """ServiceEntry ``resolution: NONE``: send to the address the caller asked for."""
        return self.service.resolution == "NONE"


def select(
    endpoints: tuple[Endpoint, ...], labels: Mapping[str, str] | None
) -> tuple[Endpoint, ...]:
    """The endpoints whose labels include ``labels`` (a subset's selection)."""
    if not labels:
        return endpoints
    return tuple(e for e in endpoints if selects(labels, e.labels))
