"""The parts of the incremental compile and the tables assembled from them.

Per VirtualService its routes, per host its service, its clusters and its virtual host
(the table in :mod:`._compiler`); each is built from the resources that select it, as
Istio's push context builds them (a VirtualService binds to the ``mesh`` gateway, the
``exportTo`` visibility, the Sidecar's imports). :class:`PartBuilder` is the part of
:class:`~._compiler.Compiler` that builds them; the compiler decides which to rebuild.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._cluster_state import ClusterStates
from .._namespaces import visible
from ..balancing import ActiveRequests
from ._clusters import Cluster
from ._hosts import HostMap, host_matches
from ._index import ConfigIndex, Key, vs_hosts
from ._located import located
from ._match import SourceInfo
from ._routes import MatcherMemo, Route, compile_http_routes
from ._scope import Scope
from ._services import Service, kube_service_of, service_of
from ._tables import ClusterKey, Clusters, Tables, VirtualHost, clusters_of

__all__ = ["PartBuilder"]


class PartBuilder:
    """Builds the parts of a :class:`~._compiler.Compiler` (which holds the state
    declared here) and assembles its tables."""

    client: Any
    active: ActiveRequests
    states: ClusterStates
    rebuilt: dict[str, int]
    _source: SourceInfo
    _index: ConfigIndex
    _scope: Scope
    _pos: dict[Key, float]
    _by_key: dict[Key, Any]
    _routes: dict[Key, tuple[Route, ...]]
    _services: dict[str, Service]
    _clusters: dict[str, dict[ClusterKey, Cluster]]
    _vhosts: dict[str, VirtualHost]
    #: hosts whose virtual host is a wildcard or has service addresses
    _special: dict[str, None]
    #: the match blocks compiled by this compile (emptied after it)
    _matchers: MatcherMemo

    def _build(
        self,
        new: Mapping[Key, Any],
        *,
        vs: Iterable[Key],
        service: Iterable[str],
        clusters: Iterable[str],
        vhost: Iterable[str],
        full: bool,
    ) -> None:
        counts = {"routes": 0, "service": 0, "clusters": 0, "vhost": 0}
        for k in vs:
            counts["routes"] += 1
            self._build_routes(k, new.get(k))
        dirty_clusters = dict.fromkeys(clusters)
        dirty_vhost: dict[str, None] = {}
        for h in service:
            counts["service"] += 1
            self._build_service(h, new)
            dirty_clusters[h] = None
            dirty_vhost[h] = None
        for h in dirty_clusters:
            counts["clusters"] += 1
            self._build_clusters(h)
        wild_vs = sorted(
            (k for k in self._index.vs_wild if k in self._routes), key=self._pos.__getitem__
        )
        # hosts that only a VirtualService names, in the order of the VirtualServices
        dirty_vhost.update(dict.fromkeys(vhost))
        if full:
            for k in sorted(self._routes, key=self._pos.__getitem__):
                dirty_vhost.update(dict.fromkeys(vs_hosts(new[k])))
        for h in dirty_vhost:
            counts["vhost"] += 1
            self._build_vhost(h, wild_vs, new)
        self.rebuilt = counts

    def _build_routes(self, key: Key, vs: Any | None) -> None:
        self._routes.pop(key, None)
        if vs is None:
            return
        spec = vs.spec
        # Istio: a VirtualService with no `gateways` binds to the reserved gateway `mesh`;
        # one that lists gateways applies to sidecars only if the list names `mesh`.
        if spec.gateways and "mesh" not in spec.gateways:
            return
        if not visible(spec.export_to, vs.namespace, self.client.namespace):
            return
        if not self._scope.imports_virtual_service(vs.namespace, vs_hosts(vs)):
            return
        with located(vs, "spec.http[]"):
            self._routes[key] = compile_http_routes(vs, self._source, self._matchers)

    def _imported(self, host: str, namespace: str) -> bool:
        scope = self._scope
        if scope.imports_service(host, namespace):
            return True
        # Istio's collectImportedServices: the destinations of imported VirtualServices
        return any(k in self._routes for k in self._index.vs_dests.get(host, ()))

    def _build_service(self, host: str, new: Mapping[Key, Any]) -> None:
        index = self._index
        ns = self.client.namespace
        entries = [
            se
            for k in sorted(index.se_hosts.get(host, ()), key=index.order)
            if visible((se := new[k]).spec.export_to, se.namespace, ns)
            and self._imported(host, se.namespace)
        ]
        svc = service_of(host, entries, index.workloads.select)
        if svc is None:
            kk = index.first(index.kube.get(host, ()))
            if kk is not None and self._imported(host, kk[1]):
                svc = kube_service_of(new[kk], index.workloads.select)
        if svc is not None and not self._scope.everything:
            ports = self._scope.service_ports(host, svc.namespace)
            if ports is not None and not self._scope.imports_service(host, svc.namespace):
                ports = None  # imported through a VirtualService: every port
            if ports is not None:
                svc.ports = [p for p in svc.ports if p.number in ports]
        if svc is None:
            self._services.pop(host, None)
        else:
            self._services[host] = svc

    def _build_clusters(self, host: str) -> None:
        svc = self._services.get(host)
        if svc is None:
            self._clusters.pop(host, None)
            return
        dr = self._index.rules.lookup(svc.host, svc.namespace)
        self._clusters[host] = clusters_of(
            svc, dr, active=self.active, client=self.client, states=self.states
        )

    def _vs_routes(self, host: str, wild_vs: Sequence[Key], new: Mapping[Key, Any]) -> Any:
        """The routes of the first imported VirtualService naming ``host``, else of the
        most specific wildcard one (the first among equals); None without one."""
        index = self._index
        k = index.first(k for k in index.vs_hosts.get(host, ()) if k in self._routes)
        if k is not None:
            return self._routes[k]
        best: tuple[int, float, Key] | None = None
        for wk in wild_vs:
            for p in vs_hosts(new[wk]):
                if p.startswith("*") and host_matches(p, host):
                    cand = (-len(p), index.order(wk), wk)
                    if best is None or cand < best:
                        best = cand
        return self._routes[best[2]] if best is not None else None

    def _vs_named(self, host: str, wild_vs: Sequence[Key], new: Mapping[Key, Any]) -> bool:
        if not host.startswith("*"):
            return any(k in self._routes for k in self._index.vs_hosts.get(host, ()))
        return any(host in vs_hosts(new[k]) for k in wild_vs)

    def _build_vhost(self, host: str, wild_vs: Sequence[Key], new: Mapping[Key, Any]) -> None:
        svc = self._services.get(host)
        routes = self._vs_routes(host, wild_vs, new)
        if svc is None and (routes is None or not self._vs_named(host, wild_vs, new)):
            self._vhosts.pop(host, None)
            self._special.pop(host, None)
            return
        self._vhosts[host] = VirtualHost(svc, routes)
        if host.startswith("*") or (svc is not None and svc.addresses):
            self._special[host] = None
        else:
            self._special.pop(host, None)

    # -- assemble ----------------------------------------------------------------------

    def _commit(self, new: dict[Key, Any]) -> Tables:
        self._by_key = new
        return self._tables(new)

    def _tables(self, new: dict[Key, Any]) -> Tables:
        """The tables of a snapshot: views of the part dicts (copied before any later
        compile edits them, so a published snapshot never changes), plus the few names
        that are not canonical hosts (wildcards, service addresses)."""
        ns = self.client.namespace
        svc_wild: list[tuple[str, Service]] = []
        vh_wild: list[tuple[str, VirtualHost]] = []
        addresses: dict[str, VirtualHost] = {}
        for h in self._special:
            vh = self._vhosts[h]
            if h.startswith("*"):
                vh_wild.append((h, vh))
                if vh.service is not None:
                    svc_wild.append((h, vh.service))
            if vh.service is not None:
                for a in vh.service.addresses:
                    addresses.setdefault(a, vh)
        return Tables(
            resources=tuple(new.values()),
            services=self._services,
            clusters=Clusters(self._clusters),
            service_hosts=HostMap(self._services, svc_wild, ns),
            vhosts=HostMap(self._vhosts, vh_wild, ns, extra=addresses),
            scope=self._scope,
        )
