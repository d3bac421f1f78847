"""The compiler's index: resource keys by what selects them (ServiceEntries by host and
by namespace when they select workloads, WorkloadEntries by namespace and label,
Kubernetes Services by FQDN, DestinationRules by namespace and host, VirtualServices by
host and by destination), so no compile step scans every resource of a kind."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ._hosts import to_fqdn
from ._policy import DestinationRules
from ._scope import destination_hosts
from ._services import Workloads, instance_of

Key = tuple[str, str, str]  # kind, namespace, name
#: the keys under one host or namespace, in the order added: a tuple while small (most
#: hosts have one ServiceEntry, one VirtualService), a dict once large (adding stays O(1))
Bucket = tuple[Key, ...] | dict[Key, None]
_SMALL = 8

#: the kinds routing compiles (others are carried in the snapshot's resources)
ROUTING_KINDS = frozenset(
    {"ServiceEntry", "WorkloadEntry", "Service", "DestinationRule", "VirtualService", "Sidecar"}
)


def key_of(r: Any) -> Key:
    return (r.kind, r.namespace, r.name)


def se_hosts(se: Any) -> list[str]:
    return [h.lower() for h in se.spec.hosts]


def vs_hosts(vs: Any) -> list[str]:
    return [to_fqdn(h, vs.namespace) for h in vs.spec.hosts]


def kube_host(ks: Any) -> str:
    return to_fqdn(ks.name, ks.namespace)


class ConfigIndex:
    """Resource keys by what selects them. Holds keys; objects come from the current
    configuration. ``add``/``remove`` are inverses, so a failed compile undoes its edits."""

    def __init__(self, client: Any, order: Callable[[Any], float]) -> None:
        self.order = order
        self.se_hosts: dict[str, Bucket] = {}
        self.se_selecting: dict[str, Bucket] = {}
        self.kube: dict[str, Bucket] = {}
        self.kube_selecting: dict[str, Bucket] = {}
        self.workloads = Workloads(order)
        self.rules = DestinationRules((), client.namespace, client.labels, order=order)
        self.vs_hosts: dict[str, Bucket] = {}
        self.vs_wild: dict[Key, None] = {}
        self.vs_dests: dict[str, Bucket] = {}
        self.sidecars: dict[Key, None] = {}
        self.instances: dict[Key, Any] = {}

    @staticmethod
    def _put(d: dict[Any, Bucket], bucket: Any, key: Key) -> None:
        b = d.get(bucket)
        if b is None:
            d[bucket] = (key,)
        elif type(b) is dict:
            b[key] = None
        elif key not in b:
            d[bucket] = (*b, key) if len(b) < _SMALL else dict.fromkeys((*b, key))

    @staticmethod
    def _drop(d: dict[Any, Bucket], bucket: Any, key: Key) -> None:
        b = d.get(bucket)
        if b is None or key not in b:
            return
        if type(b) is dict:
            del b[key]
            rest: Bucket = b
        else:
            rest = tuple(k for k in b if k != key)
        if not rest:
            del d[bucket]
        elif rest is not b:
            d[bucket] = rest

    def edit(self, key: Key, r: Any, add: bool) -> None:
        put = self._put if add else self._drop
        kind = key[0]
        if kind == "ServiceEntry":
            for h in se_hosts(r):
                put(self.se_hosts, h, key)
            if r.spec.workload_selector is not None:
                put(self.se_selecting, r.namespace, key)
        elif kind == "WorkloadEntry":
            if add:
                inst = self.instances[key] = instance_of(r.spec)
                self.workloads.add(key, r.namespace, inst)
            else:
                self.workloads.remove(key, r.namespace, self.instances.pop(key))
        elif kind == "Service":
            put(self.kube, kube_host(r), key)
            if r.spec.selector:
                put(self.kube_selecting, r.namespace, key)
        elif kind == "DestinationRule":
            (self.rules.add if add else self.rules.remove)(key, r)
        elif kind == "VirtualService":
            for h in vs_hosts(r):
                if h.startswith("*"):
                    if add:
                        self.vs_wild[key] = None
                    else:
                        self.vs_wild.pop(key, None)
                else:
                    put(self.vs_hosts, h, key)
            for h in destination_hosts(r):
                put(self.vs_dests, h, key)
        elif kind == "Sidecar":
            if add:
                self.sidecars[key] = None
            else:
                self.sidecars.pop(key, None)

    def first(self, keys: Iterable[Key]) -> Key | None:
        return min(keys, key=self.order, default=None)
