"""What a compile produces: the tables a Snapshot routes with, and the clusters of a
service (one per port and DestinationRule subset)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, ValuesView
from dataclasses import dataclass
from typing import Any

from .._cluster_state import ClusterStates
from ..balancing import ActiveRequests
from ._clusters import Cluster, cluster_name, select
from ._hosts import HostMap
from ._located import located
from ._policy import merge_policy, subset_labels
from ._routes import Route
from ._scope import Scope
from ._services import Service

ClusterKey = tuple[str, str | None, int]


@dataclass(frozen=True, slots=True)
class VirtualHost:
    """What a request host maps to: a service (or None) and its VirtualService routes
    (None when no VirtualService names the host: Istio's default route)."""

    service: Service | None
    routes: tuple[Route, ...] | None


@dataclass(frozen=True, slots=True)
class Tables:
    """What a Snapshot routes with, assembled from the parts of one compile."""

    resources: tuple[Any, ...]
    services: dict[str, Service]
    clusters: Mapping[ClusterKey, Cluster]
    service_hosts: HostMap[Service]
    vhosts: HostMap[VirtualHost]
    scope: Scope


def clusters_of(
    svc: Service,
    dr: Any | None,
    *,
    active: ActiveRequests,
    client: Any,
    states: ClusterStates,
) -> dict[ClusterKey, Cluster]:
    """The clusters of ``svc``: one per port and DestinationRule subset (plus no subset),
    the subset's endpoints selected by its labels, the rule's policy merged per port."""

    out: dict[ClusterKey, Cluster] = {}
    with located(dr, "spec.trafficPolicy"):
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
                out[(svc.host, subset, port.number)] = Cluster(
                    name=name,
                    service=svc,
                    subset=subset,
                    port=port,
                    endpoints=endpoints,
                    policy=policy,
                    active=active,
                    client=client,
                    states=states,
                )
    return out


class Clusters(Mapping[ClusterKey, Cluster]):
    """The clusters of a snapshot by (host, subset, port): a read-only view of the
    per-host parts, so a compile does not flatten 20,000 clusters into a new dict."""

    __slots__ = ("_parts",)

    def __init__(self, parts: Mapping[str, Mapping[ClusterKey, Cluster]]) -> None:
        self._parts = parts

    def __getitem__(self, key: ClusterKey) -> Cluster:
        part = self._parts.get(key[0])
        if part is None:
            raise KeyError(key)
        return part[key]

    def get(self, key: ClusterKey, default: Any = None) -> Any:
        part = self._parts.get(key[0])
        return default if part is None else part.get(key, default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, tuple) and self.get(key) is not None

    def __iter__(self) -> Iterator[ClusterKey]:
        for part in self._parts.values():
            yield from part

    def __len__(self) -> int:
        return sum(len(p) for p in self._parts.values())

    def values(self) -> ValuesView[Cluster]:
        return _ClusterValues(self)


class _ClusterValues(ValuesView[Cluster]):
    def __iter__(self) -> Iterator[Cluster]:
        for part in self._mapping._parts.values():  # type: ignore[attr-defined]
            yield from part.values()
