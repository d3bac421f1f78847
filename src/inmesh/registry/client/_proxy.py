"""What a watching client reports about itself: istioctl proxy-status's view of a proxy.

istiod knows, for every connected proxy, the version of the configuration it last
acknowledged and what it NACKed. An inmesh client tells the registry the same: the
revision it applied and the resources it rejected (kind, namespace, name, reason).

Every watch request carries the client's id, the revision it applied and the generation
of its rejection list (``proxy=ID&applied=REV&report=GEN``), answered in the registry's
fast watch path, so a push costs no extra request. The full report (``POST
/v1/proxies``) is sent before the next watch request only when the rejections changed
(a new generation), and again whenever the registry answers a watch with
``x-inmesh-proxy: unknown`` (a restarted replica, another replica behind a load
balancer, or a generation it has not seen): registries keep proxy status in memory, as
istiod keeps its connections.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._view import Rejection

__all__ = ["PROXY_HEADER", "ProxyInfo", "ProxyReport", "new_proxy_id"]

#: Response header of a watch answer: ``unknown`` when the registry has no report from
#: the proxy named in the request.
PROXY_HEADER = "x-inmesh-proxy"


def new_proxy_id() -> str:
    """A short random id, one per client instance (as a pod name's suffix)."""
    return secrets.token_hex(4)


@dataclass(frozen=True, slots=True)
class ProxyInfo:
    """Who a watching client is: its service, namespace and labels (``inmesh status
    --proxies`` shows ``service.namespace`` and the client's short id)."""

    service: str
    namespace: str = "default"
    labels: Mapping[str, str] = field(default_factory=dict)


class ProxyReport:
    """The applied revision and rejections of one client, and whether the registry still
    needs to hear them."""

    def __init__(self, proxy: ProxyInfo, proxy_id: str) -> None:
        self.proxy = proxy
        self.id = proxy_id
        self.applied: int | None = None
        self.rejections: tuple[Rejection, ...] = ()
        self.generation = 0  # bumped whenever the rejections change
        self.pending = False  # the full report must be sent (POST)
        self.sent = False  # the registry heard from this proxy at least once

    def apply(self, revision: int, rejections: Iterable[Rejection]) -> None:
        """The view at ``revision`` is in force, less ``rejections``."""
        rejected = tuple(dict.fromkeys(rejections))
        if self.applied is None or rejected != self.rejections:
            self.rejections = rejected
            self.generation += 1
            self.pending = True
        self.applied = revision

    def carry(self, previous: int, revision: int) -> None:
        """A new revision that changes nothing this client sees: what was applied at
        ``previous`` is what ``revision`` holds, so it counts as applied too."""
        if self.applied == previous:
            self.applied = revision

    def unknown(self) -> None:
        """The registry does not know this proxy (any more): send the report again."""
        if self.applied is not None:
            self.pending = True

    def params(self) -> dict[str, Any]:
        """What each watch request carries."""
        return {"proxy": self.id, "applied": self.applied or 0, "report": self.generation}

    def body(self) -> dict[str, Any]:
        """The full report (``POST /v1/proxies``)."""
        return {
            "id": self.id,
            "service": self.proxy.service,
            "namespace": self.proxy.namespace,
            "labels": dict(self.proxy.labels),
            "applied": self.applied or 0,
            "generation": self.generation,
            "rejections": [r.to_json() for r in self.rejections],
        }
