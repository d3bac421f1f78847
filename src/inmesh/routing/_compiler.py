"""The incremental compile: a snapshot built from per-host parts, reused while their inputs
are unchanged.

A :class:`Compiler` belongs to one client (a Mesh). Each ``compile`` takes the whole
configuration, finds what changed since the last successful compile (by object identity,
then content equality, per kind/namespace/name), and rebuilds only the parts those changes
touch:

==================  ===========================================  =============================
part                built from                                   rebuilt when
==================  ===========================================  =============================
routes (per VS)     one VirtualService                           it changes
service (per host)  the ServiceEntries naming the host (or its   one of them changes, or a
                    Kubernetes Service) and the WorkloadEntries  WorkloadEntry they select
                    they select                                  (before or after) changes
clusters (per host) the service and its DestinationRule          either changes
virtual host        the service and the VirtualService routes    either changes
==================  ===========================================  =============================

Resources are indexed by what selects them (hosts, namespace and labels, DestinationRule
host), so both a full compile and a change cost in proportion to what they touch, never
N x N. A change to a Sidecar, a wildcard host, or the order of the resources (Istio orders
by creation time: the first of two VirtualServices for a host wins) rebuilds every part.

A failed compile (an unsupported field, an invalid policy) changes nothing: index edits
are undone and the parts of the last good compile stay.

This module finds what changed and what it reaches; :mod:`._parts` builds the parts and
assembles the tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .._cluster_state import ClusterStates
from .._namespaces import selects
from .._runtime_support import check_supported
from ..balancing import ActiveRequests
from ..config._files import gc_paused
from ._clusters import Cluster
from ._diff import latest, same_shape
from ._diff import positions as positions_of
from ._index import ROUTING_KINDS, ConfigIndex, Key, kube_host, se_hosts, vs_hosts
from ._match import SourceInfo
from ._parts import PartBuilder
from ._policy import DestinationRules
from ._routes import MatcherMemo, Route
from ._scope import Scope, destination_hosts, scope_for
from ._services import Service
from ._tables import ClusterKey, Tables, VirtualHost

__all__ = ["Compiler", "Tables", "VirtualHost"]


class _Full(Exception):
    """A change whose reach is not worth tracking: rebuild every part."""


class Compiler(PartBuilder):
    """One client's incremental compile (module docstring). Not thread-safe: the Mesh
    calls it under its lock."""

    def __init__(
        self,
        client: Any,
        *,
        active: ActiveRequests,
        states: ClusterStates,
    ) -> None:
        self.client = client
        self.active = active
        self.states = states
        self._source = SourceInfo(client.namespace, client.labels)
        self._matchers: MatcherMemo = {}
        self._reset()
        #: how many parts the last compile built, by kind (for tests and benchmarks)
        self.rebuilt: dict[str, int] = {}

    def _reset(self) -> None:
        self._by_key: dict[Key, Any] = {}
        #: the list the last good compile was given (for the in-place edit fast path)
        self._items: list[Any] = []
        self._key_by_id: dict[int, Key] = {}
        self._pos: dict[Key, float] = {}
        self._next = 0
        self._index = ConfigIndex(self.client, self._pos.__getitem__)
        self._scope = Scope(self.client.namespace)
        self._routes: dict[Key, tuple[Route, ...]] = {}
        self._services: dict[str, Service] = {}
        self._clusters: dict[str, dict[ClusterKey, Cluster]] = {}
        self._vhosts: dict[str, VirtualHost] = {}
        #: hosts whose virtual host is a wildcard or has service addresses
        self._special: dict[str, None] = {}

    # -- compile -----------------------------------------------------------------------

    def compile(self, resources: Iterable[Any]) -> Tables:
        """Compile ``resources`` (the whole configuration). Raises ConfigError and
        changes nothing when any resource cannot be used."""
        try:
            with gc_paused():  # see gc_paused: many long-lived objects, no cycles
                return self._compile(resources)
        finally:
            self._matchers = {}  # it holds the match blocks of this compile

    def _compile(self, resources: Iterable[Any]) -> Tables:
        items = list(resources)  # a copy: the caller may reuse its list
        shaped = same_shape(items, self._items, self._by_key)
        new, fresh = shaped if shaped is not None else latest(items, self._key_by_id)
        old = self._by_key
        changed = [k for k in dict.fromkeys(fresh) if old.get(k) is not new[k]]
        replaced = sum(1 for k in changed if k in old)
        kept = len(new) - len(changed) + replaced
        removed = [k for k in old if k not in new] if kept < len(old) else []
        # same content in a new object (a file loaded again): nothing to rebuild
        edits = [k for k in changed if not (k in old and old[k] == new[k])]
        check_supported(new[k] for k in edits)
        positions: dict[Key, float] | None
        if not old:
            positions = None
        elif shaped is not None:
            positions = {}  # the same keys in the same order
        else:
            positions = positions_of(new, self._pos, self._next)
        if positions is not None:
            try:
                tables = self._incremental(new, edits, removed, positions)
            except _Full:
                pass
            else:
                for k in changed:
                    if k in old:
                        self._key_by_id.pop(id(old[k]), None)
                    self._key_by_id[id(new[k])] = k
                for k in removed:
                    self._key_by_id.pop(id(old[k]), None)
                self._items = items
                return tables
        tables = self._full(new)
        self._key_by_id = {id(r): k for k, r in new.items()}
        self._items = items
        return tables

    def _full(self, new: dict[Key, Any]) -> Tables:
        saved = self.__dict__.copy()
        self._reset()
        try:
            for k in new:
                self._pos[k] = self._next
                self._next += 1
            for k, r in new.items():
                if k[0] in ROUTING_KINDS:
                    self._index.edit(k, r, True)
            self._scope = self._scope_of(new)
            self._build(
                new,
                vs=[k for k in new if k[0] == "VirtualService"],
                service=list(self._all_hosts()),
                clusters=(),
                vhost=(),
                full=True,
            )
        except BaseException:
            self.__dict__.update(saved)
            raise
        return self._commit(new)

    def _incremental(
        self,
        new: dict[Key, Any],
        edits: list[Key],
        removed: list[Key],
        positions: dict[Key, float],
    ) -> Tables:
        old = self._by_key
        undo: list[tuple[Key, Any, bool]] = []
        dirty_vs: dict[Key, None] = {}
        dirty_service: dict[str, None] = {}
        dirty_clusters: dict[str, None] = {}
        dirty_vhost: dict[str, None] = {}
        try:
            for k in [*edits, *removed]:
                kind = k[0]
                if kind not in ROUTING_KINDS:
                    continue
                if kind == "Sidecar":
                    raise _Full
                versions = [r for r in (old.get(k), new.get(k)) if r is not None]
                for r in versions:
                    self._touch(k, r, new, dirty_vs, dirty_service, dirty_clusters, dirty_vhost)
                if k in old:
                    self._index.edit(k, old[k], False)
                    undo.append((k, old[k], True))
                if k in new:
                    self._index.edit(k, new[k], True)
                    undo.append((k, new[k], False))
            added = list(positions)
            # the part dicts are copied before any edit (a published snapshot's tables are
            # views of them); a failure puts the originals back, as _full does
            saved = self.__dict__.copy()
            self._routes = dict(self._routes)
            self._services = dict(self._services)
            self._clusters = dict(self._clusters)
            self._vhosts = dict(self._vhosts)
            self._special = dict(self._special)
            self._pos.update(positions)
            self._next = max(self._next, int(max(positions.values(), default=0)) + 1)
            try:
                for k in removed:
                    self._routes.pop(k, None)
                self._build(
                    new,
                    vs=dirty_vs,
                    service=dirty_service,
                    clusters=dirty_clusters,
                    vhost=dirty_vhost,
                    full=False,
                )
            except BaseException:
                self.__dict__.update(saved)
                for k in added:
                    self._pos.pop(k, None)
                raise
        except BaseException:
            for k, r, add in reversed(undo):
                self._index.edit(k, r, add)
            raise
        for k in removed:
            self._pos.pop(k, None)
        return self._commit(new)

    def _touch(
        self,
        key: Key,
        r: Any,
        new: Mapping[Key, Any],
        dirty_vs: dict[Key, None],
        dirty_service: dict[str, None],
        dirty_clusters: dict[str, None],
        dirty_vhost: dict[str, None],
    ) -> None:
        """Mark what one version of a changed resource reaches."""
        kind = key[0]
        if kind == "ServiceEntry":
            hosts = se_hosts(r)
            if any(h.startswith("*") for h in hosts):
                raise _Full
            dirty_service.update(dict.fromkeys(hosts))
        elif kind == "WorkloadEntry":
            labels = r.spec.labels or {}
            for sk in self._index.se_selecting.get(r.namespace, ()):
                se = new.get(sk) or self._by_key.get(sk)
                if se is not None and selects(se.spec.workload_selector.labels, labels):
                    dirty_service.update(dict.fromkeys(se_hosts(se)))
            for kk in self._index.kube_selecting.get(r.namespace, ()):
                ks = new.get(kk) or self._by_key.get(kk)
                if ks is not None and selects(ks.spec.selector, labels):
                    dirty_service[kube_host(ks)] = None
        elif kind == "Service":
            dirty_service[kube_host(r)] = None
        elif kind == "DestinationRule":
            host = DestinationRules.host_of(r)
            if host.startswith("*"):
                raise _Full
            dirty_clusters[host] = None
        elif kind == "VirtualService":
            hosts = vs_hosts(r)
            if any(h.startswith("*") for h in hosts):
                raise _Full
            dirty_vs[key] = None
            dirty_vhost.update(dict.fromkeys(hosts))
            if not self._scope.everything:
                # a scoped client imports the services a VirtualService routes to
                dirty_service.update(dict.fromkeys(destination_hosts(r)))

    def _scope_of(self, new: Mapping[Key, Any]) -> Scope:
        sidecars = [new[k] for k in sorted(self._index.sidecars, key=self._pos.__getitem__)]
        return scope_for(sidecars, self.client.namespace, self.client.labels)

    def _all_hosts(self) -> Iterable[str]:
        yield from self._index.se_hosts
        yield from self._index.kube
