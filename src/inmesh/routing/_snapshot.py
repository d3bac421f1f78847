"""A compiled, immutable view of the mesh configuration for one client.

Istio resources are compiled once into services, virtual hosts, routes and clusters; a
request reads the snapshot once at its start and uses that view to the end. ``decide`` is
the pure routing decision for one request: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from .._cluster_state import ClusterStates
from .._errors import ConfigError
from .._flags import BLACKHOLE, NO_CLUSTER, NO_HEALTHY_UPSTREAM, NO_ROUTE, LocalReply
from .._namespaces import visible
from ..balancing import ActiveRequests
from ._clusters import Cluster, cluster_name, select
from ._hosts import HostTable, aliases, to_fqdn
from ._match import Matcher, SourceInfo
from ._policy import DestinationRules, merge_policy, subset_labels
from ._request import RequestView
from ._routes import Destination, Route, compile_http_routes
from ._services import Port, Service, build_services

OUTBOUND_ALLOW_ANY = "ALLOW_ANY"
OUTBOUND_REGISTRY_ONLY = "REGISTRY_ONLY"


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    """The calling workload: what source-based matching and locality LB look at."""

    service: str
    namespace: str = "default"
    labels: Mapping[str, str] = field(default_factory=dict)
    locality: str = ""
    address: str = "127.0.0.1"
    #: the mesh's trust domain (SPIFFE identities are ``spiffe://<it>/ns/<ns>/sa/<sa>``)
    trust_domain: str = "cluster.local"


# --- decisions ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Passthrough:
    """Not a mesh host, ALLOW_ANY: send the request as it is (Istio's PassthroughCluster)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """The mesh answers itself (no route, no cluster, BlackHoleCluster...)."""

    reply: LocalReply
    route: Route | None = None
    cluster_name: str = ""
    service: Service | None = None


@dataclass(frozen=True, slots=True)
class Redirect:
    status: int
    location: str
    route: Route
    service: Service | None


@dataclass(frozen=True, slots=True)
class Forward:
    """Send to an endpoint of ``cluster``; ``route`` is None for the default route."""

    cluster: Cluster
    route: Route | None
    destination: Destination | None
    matched: Matcher | None


Decision = Passthrough | Reply | Redirect | Forward
PASSTHROUGH = Passthrough()


@dataclass(frozen=True, slots=True)
class VirtualHost:
    """What a request host maps to: a service (or None) and its VirtualService routes
    (None when no VirtualService names the host: Istio's default route)."""

    service: Service | None
    routes: tuple[Route, ...] | None


@contextmanager
def located(resource: Any | None, field_prefix: str) -> Iterator[None]:
    """Name ``resource`` (its file, document, kind, namespace, name) and the field prefix in
    the problems of a ConfigError raised while compiling it (policy objects validate
    their values without knowing where they came from)."""
    try:
        yield
    except ConfigError as exc:
        if resource is None:
            raise
        file, document = getattr(resource, "origin", (None, None))
        raise ConfigError(
            [
                replace(
                    p,
                    file=p.file or file,
                    document=p.document or document,
                    kind=p.kind or resource.kind,
                    namespace=p.namespace or resource.namespace,
                    name=p.name or resource.name,
                    field=p.field
                    if p.field and p.field.startswith("spec")
                    else f"{field_prefix}.{p.field}"
                    if p.field
                    else field_prefix,
                )
                for p in exc.problems
            ]
        ) from None


def _kinds(resources: Iterable[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for r in resources:
        out.setdefault(r.kind, []).append(r)
    return out


class Snapshot:
    """Everything one client needs to route, compiled from Istio resources."""

    def __init__(
        self,
        resources: Sequence[Any],
        client: ClientIdentity,
        *,
        active: ActiveRequests | None = None,
        outbound_policy: str = OUTBOUND_ALLOW_ANY,
        revision: int = 0,
        states: ClusterStates | None = None,
    ) -> None:
        self.resources = tuple(resources)
        self.client = client
        self.revision = revision
        self.outbound_policy = outbound_policy
        self.active = active if active is not None else ActiveRequests()
        self._states = states if states is not None else ClusterStates()
        by_kind = _kinds(resources)
        source = SourceInfo(client.namespace, client.labels)
        self.services: dict[str, Service] = build_services(
            by_kind.get("ServiceEntry", ()),
            by_kind.get("WorkloadEntry", ()),
            by_kind.get("Service", ()),
            client.namespace,
        )
        self.destination_rules = DestinationRules(
            by_kind.get("DestinationRule", ()), client.namespace, client.labels
        )
        self._service_hosts: HostTable[Service] = HostTable()
        for svc in self.services.values():
            self._service_hosts.add(aliases(svc.host, client.namespace), svc)
        self.clusters: dict[tuple[str, str | None, int], Cluster] = {}
        for svc in self.services.values():
            self._add_clusters(svc)
        self._vhosts: HostTable[VirtualHost] = HostTable()
        self._build_vhosts(by_kind.get("VirtualService", ()), source)

    # -- compile ----------------------------------------------------------------------

    def _add_clusters(self, svc: Service) -> None:
        dr = self.destination_rules.lookup(svc.host, svc.namespace)
        with located(dr, "spec.trafficPolicy"):
            self._add_clusters_of(svc, dr)

    def _add_clusters_of(self, svc: Service, dr: Any | None) -> None:
        subsets: list[str | None] = [None]
        if dr is not None:
            subsets += [s.name for s in dr.spec.subsets or ()]
        for port in svc.ports:
            all_eps = svc.endpoints(port)
            for subset in subsets:
                labels = subset_labels(dr, subset) if subset is not None else None
                endpoints = select(all_eps, labels)
                policy = merge_policy(dr, subset, port.number)
                name = cluster_name(port.number, subset, svc.host)
                self.clusters[(svc.host, subset, port.number)] = Cluster(
                    name=name,
                    service=svc,
                    subset=subset,
                    port=port,
                    endpoints=endpoints,
                    policy=policy,
                    active=self.active,
                    client=self.client,
                    state=self._states.get(name, policy, [e.key for e in endpoints]),
                )

    def _build_vhosts(self, virtual_services: Iterable[Any], source: SourceInfo) -> None:
        # Istio: a VirtualService with no `gateways` binds to the reserved gateway `mesh`;
        # one that lists gateways applies to sidecars only if the list names `mesh`. When
        # several VirtualServices claim one host, the first (oldest) wins (IST0109).
        vs_by_host: HostTable[tuple[Route, ...]] = HostTable()
        vs_hosts: list[str] = []
        for vs in virtual_services:
            spec = vs.spec
            if spec.gateways and "mesh" not in spec.gateways:
                continue
            if not visible(spec.export_to, vs.namespace, self.client.namespace):
                continue
            hosts = [to_fqdn(h, vs.namespace) for h in spec.hosts]
            with located(vs, "spec.http[]"):
                vs_by_host.add(hosts, compile_http_routes(vs, source))
            vs_hosts.extend(hosts)
        for svc in self.services.values():
            vhost = VirtualHost(svc, vs_by_host.get(svc.host))
            self._vhosts.add([*aliases(svc.host, self.client.namespace), *svc.addresses], vhost)
        # Hosts that only a VirtualService names (no service behind them); the first
        # value added for a name wins, so service hosts above keep theirs.
        for host in vs_hosts:
            vhost = VirtualHost(None, vs_by_host.get(host))
            self._vhosts.add(aliases(host, self.client.namespace), vhost)

    # -- decide -----------------------------------------------------------------------

    def decide(self, req: RequestView) -> Decision:
        """The routing decision for ``req``: pure, no I/O."""
        vh = self._vhosts.get(req.host)
        if vh is None:
            if self.outbound_policy == OUTBOUND_REGISTRY_ONLY:
                return Reply(BLACKHOLE, cluster_name="BlackHoleCluster")
            return PASSTHROUGH
        svc = vh.service
        routes: tuple[Route, ...] | None = vh.routes
        if svc is not None:
            port = self._request_port(svc, req)
            if port is None:
                return Reply(NO_ROUTE, service=svc)
            if port.protocol in ("HTTPS", "TLS") or req.scheme == "https":
                # TLS from the application: Envoy cannot see HTTP inside, so `http` routes
                # do not apply; the connection goes to the service's endpoints as it is.
                routes = None
            elif port.number != req.port:
                # A URL without a port reached the service's only port: routes see that
                # port, as on the sidecar's listener for it (a match on `port`, derivePort).
                req = replace(req, port=port.number)
        else:
            port = None
        if routes is None:
            if svc is None or port is None:
                return Reply(NO_ROUTE)
            return self._forward(svc.host, None, port.number, None, None, None)
        for route in routes:
            ok, matched = route.match(req)
            if not ok:
                continue
            if route.redirect is not None:
                loc = route.redirect.location(req, req.query)
                return Redirect(route.redirect.code, loc, route, svc)
            dest = route.choose()
            if dest is None:
                return Reply(NO_HEALTHY_UPSTREAM, route=route, service=svc)
            return self._forward(
                dest.host,
                dest.subset,
                dest.port or (port.number if port else None),
                route,
                dest,
                matched,
            )
        return Reply(NO_ROUTE, service=svc)

    def _request_port(self, svc: Service, req: RequestView) -> Port | None:
        p = svc.port(req.port)
        if p is None and not req.explicit_port:
            # inmesh convenience, documented: with no port in the URL, a service with one
            # declared port is reached on it (there is no ClusterIP/DNS layer in-process).
            p = svc.port(None)
        return p

    def cluster_for(self, host: str, subset: str | None, port: int | None) -> Cluster | None:
        """The cluster of (host, subset, port), the host resolved as route destinations are."""
        svc = self._service_hosts.get(host)
        if svc is None:
            return None
        if port is None:
            only = svc.port(None)
            if only is None:
                return None
            port = only.number
        return self.clusters.get((svc.host, subset, port))

    def _forward(
        self,
        host: str,
        subset: str | None,
        port: int | None,
        route: Route | None,
        dest: Destination | None,
        matched: Matcher | None,
    ) -> Decision:
        svc = self._service_hosts.get(host)
        if svc is None:
            return Reply(NO_CLUSTER, route=route)
        cluster = self.cluster_for(host, subset, port)
        if cluster is None:
            # A route to a subset no DestinationRule defines, or to an undeclared port:
            # Envoy has no such cluster and answers 503 NC.
            name = cluster_name(port or 0, subset, svc.host)
            return Reply(NO_CLUSTER, route=route, cluster_name=name, service=svc)
        return Forward(cluster, route, dest, matched)
