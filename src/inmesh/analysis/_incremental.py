"""The analysis of a few changed resources among many, with indexes kept across changes.

A registry analyzes every apply against everything it stores (``check(..., focus=...)``),
and rebuilding the analyzers' indexes over every resource made that cost grow with the
mesh (80 ms per one-resource apply at 6,000 resources). :class:`IncrementalAnalysis` keeps
the same indexes (``_index.py``) and updates them per resource set or removed, so checking
a change costs what the change touches:

- the checks of one resource (:func:`~._checks.resource_checks`, INM0002) run against the
  kept indexes;
- the checks across resources (IST0109, IST0177, the Gateway and Telemetry analyzers) run
  unchanged, over the resources that share a group with a changed one (the same host in
  the same scope, the same host and port, every Gateway, the Telemetries and workloads of
  the namespace), which is all their messages about the changed resources depend on.

Where the full analysis depends on the order of the resources (which of two services
defining one host wins, the order of messages), :meth:`IncrementalAnalysis.check` takes
that order as a ``rank`` function and consults it only when there is more than one
candidate. The messages about the changed resources are those of ``check`` over all of
them, in the same order (``tests/unit/analysis/test_incremental.py`` compares both).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from typing import Any

from . import _gateways as gw
from . import _services as svc
from . import _telemetry as tel
from . import _virtual_services as vs
from ._checks import resource_checks, unsupported
from ._destination_rules import described_labels
from ._index import ALL, HostIndex, ServiceInfo, Services, Workloads, service_entries
from ._message import Message, resource_label

__all__ = ["IncrementalAnalysis", "Key", "resource_key"]

#: A resource's (kind, namespace, name).
Key = tuple[str, str, str]
#: A resource's place in the full analysis's order (compared with ``<``).
Rank = Callable[[Key], Any]


def resource_key(r: Any) -> Key:
    return (r.kind, r.namespace, r.name)


class _Multi:
    """outer -> {inner: count}: a multiset of inner values per outer key."""

    def __init__(self) -> None:
        self.by: dict[Hashable, dict[Any, int]] = {}

    def add(self, outer: Hashable, inner: Any, n: int = 1) -> None:
        counts = self.by.setdefault(outer, {})
        counts[inner] = counts.get(inner, 0) + n
        if counts[inner] <= 0:
            del counts[inner]
            if not counts:
                del self.by[outer]

    def get(self, outer: Hashable) -> dict[Any, int]:
        return self.by.get(outer, {})


class _KeptServices(Services):
    """:class:`Services` over the kept index: of several resources defining one scoped
    host, the last in the analysis's order wins (as ``Services.of`` overwrites)."""

    def __init__(self, by_key: dict[tuple[str, str], dict[Key, ServiceInfo]], rank: Rank):
        super().__init__()
        self._by_key = by_key
        self._rank = rank

    def _get(self, key: tuple[str, str]) -> ServiceInfo | None:
        found = self._by_key.get(key)
        if not found:
            return None
        if len(found) == 1:
            return next(iter(found.values()))
        return found[max(found, key=self._rank)]

    def _wildcard_entries(self) -> list[tuple[tuple[str, str], ServiceInfo]]:
        if self._wildcards is None:
            entries = []
            for key in sorted(k for k in self._by_key if k[1].startswith("*")):
                info = self._get(key)
                assert info is not None
                entries.append((key, info))
            self._wildcards = entries
        return self._wildcards


class _Splits(Mapping[str, Sequence[str]]):
    """``subset_splits`` over the kept index: each host's VirtualServices in order."""

    def __init__(self, by_host: _Multi, rank: Rank) -> None:
        self._by_host = by_host
        self._rank = rank

    def __getitem__(self, host: str) -> list[str]:
        counts = self._by_host.by[host]
        keys = sorted(counts, key=self._rank) if len(counts) > 1 else list(counts)
        return [f"{k[1]}/{k[2]}" for k in keys for _ in range(counts[k])]

    def __iter__(self) -> Any:
        return iter(self._by_host.by)

    def __len__(self) -> int:
        return len(self._by_host.by)


class IncrementalAnalysis:
    """Resources by key, and the analyzers' indexes over them, updated by :meth:`set`."""

    def __init__(self) -> None:
        self.resources: dict[Key, Any] = {}
        self._services: dict[tuple[str, str], dict[Key, ServiceInfo]] = {}
        self._subsets: dict[tuple[str, str], int] = {}
        self._gateway_hosts: dict[tuple[str, str], list[str]] = {}
        self._gateways: dict[Key, None] = {}
        self._workloads = Workloads()
        self._splits = _Multi()
        #: namespace -> {workload-describing resource: 1}, and how many workloads in all
        self._telemetry_workloads = _Multi()
        self._telemetry_count = 0
        #: namespace -> {Telemetry: 1}
        self._telemetries = _Multi()
        #: IST0109: (scope, host FQDN) -> VirtualServices; mesh-wide hosts; the scopes of
        #: each namespace-scoped host
        self._mesh_scoped = _Multi()
        self._mesh_wide: HostIndex[Key] = HostIndex()
        self._mesh_local: HostIndex[str] = HostIndex()
        #: IST0177: (host, port) -> ServiceEntries
        self._protocols = _Multi()

    def __len__(self) -> int:
        return len(self.resources)

    def set(self, key: Key, resource: Any | None) -> None:
        """Make ``resource`` the one under ``key`` (None: remove it)."""
        old = self.resources.pop(key, None)
        if old is not None:
            self._index(key, old, -1)
        if resource is not None:
            self.resources[key] = resource
            self._index(key, resource, 1)

    def _index(self, key: Key, r: Any, n: int) -> None:
        kind, ns = key[0], key[1]
        for skey, info in service_entries(r):
            if n > 0:
                self._services.setdefault(skey, {})[key] = info
            else:
                found = self._services.get(skey, {})
                found.pop(key, None)
                if not found:
                    self._services.pop(skey, None)
        for pair in vs.subsets_defined(r):
            count = self._subsets.get(pair, 0) + n
            if count:
                self._subsets[pair] = count
            else:
                del self._subsets[pair]
        if kind == "Gateway":
            if n > 0:
                self._gateway_hosts[(ns, key[2])] = vs.gateway_server_hosts(r)
                self._gateways[key] = None
            else:
                del self._gateway_hosts[(ns, key[2])]
                del self._gateways[key]
        for i, labels in enumerate(described_labels(r)):
            if n > 0:
                self._workloads.add((key, i), labels)
            else:
                self._workloads.remove((key, i))
        described = tel.workloads_of(r)
        if described:
            self._telemetry_workloads.add(ns, key, n)
            self._telemetry_count += n * len(described)
        for host in vs.split_hosts(r):
            self._splits.add(host, key, n)
        if kind == "Telemetry":
            self._telemetries.add(ns, key, n)
        for scope, host in vs.mesh_hosts(r):
            self._mesh_scoped.add((scope, host), key, n)
            index: HostIndex[Any] = self._mesh_wide if scope == ALL else self._mesh_local
            value: Any = key if scope == ALL else scope
            if n > 0:
                index.add(host, value)
            else:
                index.remove(host, value)
        if kind == "ServiceEntry":
            for h in r.spec.hosts:
                for p in r.spec.ports or ():
                    self._protocols.add((h, p.number), key, n)

    def check(self, focus: Collection[Key], rank: Rank) -> list[Message]:
        """The messages about the resources under ``focus`` (present ones), as
        ``check(all resources, focus=their labels)`` reports them about those resources
        and in the same order; ``rank`` gives the full analysis's order of resources."""
        chosen = [k for k in focus if k in self.resources]
        if len(chosen) > 1:
            chosen.sort(key=rank)
        models = [self.resources[k] for k in chosen]
        labels = {resource_label(r) for r in models}
        msgs = unsupported(models)
        services = _KeptServices(self._services, rank)
        splits = _Splits(self._splits, rank)
        workloads = self._workloads if self._workloads else None
        for r in models:
            msgs.extend(
                resource_checks(
                    r,
                    services=services,
                    subsets=self._subsets,
                    gateway_hosts=self._gateway_hosts,
                    splits=splits,
                    workloads=workloads,
                )
            )
        across = vs.mesh_host_conflicts(self._ordered(self._mesh_group(chosen), rank))
        msgs.extend(m for m in across if m.resource in labels)
        for r in models:
            if r.kind == "Service":
                msgs.extend(svc.port_names(r))
            elif r.kind == "ServiceEntry":
                msgs.extend(svc.addresses_required(r))
        across = svc.conflicting_protocols(self._ordered(self._protocol_group(chosen), rank))
        if any(k[0] == "Gateway" for k in chosen):
            across.extend(gw.check_gateways(self._ordered(self._gateways, rank)))
        msgs.extend(m for m in across if m.resource in labels)
        namespaces = {k[1] for k in chosen if k[0] == "Telemetry"}
        if namespaces:
            telemetries = [k for ns in namespaces for k in self._telemetries.get(ns)]
            workloads_in = None
            if self._telemetry_count:
                describing = [k for ns in namespaces for k in self._telemetry_workloads.get(ns)]
                workloads_in = [
                    w for k in self._ordered(describing, rank) for w in tel.workloads_of(k)
                ]
            found = tel.check_telemetries(self._ordered(telemetries, rank), workloads_in)
            msgs.extend(m for m in found if m.resource in labels)
        return msgs

    def _ordered(self, keys: Iterable[Key], rank: Rank) -> list[Any]:
        """The resources under ``keys`` in the full analysis's order."""
        unique = list(dict.fromkeys(keys))
        if len(unique) > 1:
            unique.sort(key=rank)
        return [self.resources[k] for k in unique]

    def _mesh_group(self, chosen: Sequence[Key]) -> list[Key]:
        """Every VirtualService in a ``mesh_host_conflicts`` group with a chosen one: the
        same (scope, host); a namespace-scoped host's group also holds every mesh-wide
        VirtualService whose host matches it (``wildcard_matches``, either way)."""
        out: list[Key] = []
        for key in chosen:
            r = self.resources[key]
            for scope, host in vs.mesh_hosts(r):
                out.extend(self._mesh_scoped.get((scope, host)))
                if scope != ALL:
                    out.extend(self._mesh_wide_matching(host))
                    continue
                # groups of namespace-scoped hosts this mesh-wide host joins
                for local in self._mesh_local.matching(host):
                    for other_scope in set(self._mesh_local.values(local)):
                        out.extend(self._mesh_scoped.get((other_scope, local)))
                    out.extend(self._mesh_wide_matching(local))
        return out

    def _mesh_wide_matching(self, host: str) -> list[Key]:
        return [k for h in self._mesh_wide.matching(host) for k in self._mesh_wide.values(h)]

    def _protocol_group(self, chosen: Sequence[Key]) -> list[Key]:
        """Every ServiceEntry sharing a host and port with a chosen one (IST0177 groups
        are (scope, host, port), a namespace's with the mesh-wide one)."""
        out: list[Key] = []
        for key in chosen:
            if key[0] != "ServiceEntry":
                continue
            r = self.resources[key]
            for h in r.spec.hosts:
                for p in r.spec.ports or ():
                    out.extend(self._protocols.get((h, p.number)))
        return out
