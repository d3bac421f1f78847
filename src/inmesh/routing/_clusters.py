"""Clusters: one (service, subset, port) with its endpoints, balancer and policy.

The name follows Envoy's cluster naming in Istio, ``outbound|<port>|<subset>|<host>``, so
telemetry reads as it does under Istio.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._cluster_state import ClusterState
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
    hash_value,
    make_balancer,
)
from ..security._upstream_tls import UpstreamTLS
from ._policy import EffectivePolicy
from ._request import RequestView
from ._services import Service, ServicePort


@dataclass(frozen=True, slots=True)
class HashPolicy:
    """Istio's ``consistentHash`` key: a header, a cookie, a query parameter or the source IP.

    With ``httpCookie`` and a ``ttl``, a missing cookie is generated and set on the response
    (Envoy's cookie hash policy; ttl 0 makes it a session cookie).
    """

    header: str | None = None
    cookie: str | None = None
    cookie_path: str | None = None
    cookie_ttl: float | None = None
    query: str | None = None
    source_ip: str | None = None

    def key(self, req: RequestView) -> tuple[int | None, str | None]:
        """The hash of the request's key (None: no key, pick as without hashing), and the
        ``Set-Cookie`` value to add to the response when a cookie was generated."""
        if self.header is not None:
            v = req.headers.get(self.header)
            return (hash_value(v) if v is not None else None), None
        if self.query is not None:
            q = req.query_param(self.query)
            return (hash_value(q) if q is not None else None), None
        if self.source_ip is not None:
            return hash_value(self.source_ip), None
        if self.cookie is not None:
            c = _cookie(req.headers.get("cookie"), self.cookie)
            if c is not None:
                return hash_value(c), None
            if self.cookie_ttl is None:
                return None, None
            value = secrets.token_hex(8)
            attrs = [f"{self.cookie}={value}"]
            if self.cookie_path:
                attrs.append(f"Path={self.cookie_path}")
            if self.cookie_ttl > 0:
                attrs.append(f"Max-Age={int(self.cookie_ttl)}")
            attrs.append("HttpOnly")
            return hash_value(value), "; ".join(attrs)
        return None, None


def _cookie(header: str | None, name: str) -> str | None:
    if not header:
        return None
    for part in header.replace(",", ";").split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return None


def hash_policy(lb: Any, source_ip: str) -> HashPolicy | None:
    """The HashPolicy of a ``loadBalancer`` setting, or None without ``consistentHash``."""
    ch = getattr(lb, "consistent_hash", None) if lb is not None else None
    if ch is None:
        return None
    if ch.http_header_name:
        return HashPolicy(header=ch.http_header_name.lower())
    if ch.http_query_parameter_name:
        return HashPolicy(query=ch.http_query_parameter_name)
    if ch.use_source_ip:
        return HashPolicy(source_ip=source_ip)
    if ch.http_cookie is not None:
        return HashPolicy(
            cookie=ch.http_cookie.name,
            cookie_path=ch.http_cookie.path,
            cookie_ttl=ch.http_cookie.ttl,
        )
    return None


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


class Cluster:
    """Endpoints of one (service, subset, port), how to pick one, and the policy in force."""

    __slots__ = (
        "balancer",
        "endpoints",
        "hash",
        "name",
        "policy",
        "pool_settings",
        "port",
        "service",
        "state",
        "subset",
        "tls",
    )

    def __init__(
        self,
        *,
        name: str,
        service: Service,
        subset: str | None,
        port: ServicePort,
        endpoints: tuple[Endpoint, ...],
        policy: EffectivePolicy,
        active: ActiveRequests,
        client: Any,
        state: ClusterState,
    ) -> None:
        self.service = service
        self.subset = subset
        self.port = port
        self.endpoints = endpoints
        self.policy = policy
        self.name = name
        self.state = state
        self.hash = hash_policy(policy.load_balancer, client.address)
        self.tls = UpstreamTLS.of(policy.tls, service.host)
        self.balancer = build_balancer(policy, endpoints, active, client)
        limits = state.limits
        #: what a connection pool of this cluster is built with: TLS settings, and the
        #: connectionPool fields the pool applies (a change gets new pools)
        self.pool_settings: tuple[object, ...] = (
            self.tls.context_key if self.tls is not None else None,
            self.tls.mode if self.tls is not None else None,
            limits.max_connections,
            limits.max_requests_per_connection,
            limits.idle_timeout if policy.connection_pool is not None else None,
        )

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
