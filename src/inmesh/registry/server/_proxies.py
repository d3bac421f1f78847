"""Proxy status: which clients watch this replica, the revision each applied, and what
each rejected (istioctl proxy-status's SYNCED / STALE, and the NACKs istiod records).

Kept in memory, per replica, as istiod keeps its connected proxies. A client sends its
full report (``POST /v1/proxies``) when its rejections change, each report numbered by a
``generation``; every watch request names the client, the revision it applied and the
generation it last reported, which counts as being seen and updates the revision without
a second request. A proxy not seen for ``expiry`` seconds (a few watch hold periods)
drops out. A replica that has no report of that generation (it restarted, or a client
reaches it for the first time behind a load balancer) answers the watch with
``x-inmesh-proxy: unknown`` and the client reports again. A pure state machine: the clock
is an argument.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

__all__ = ["ProxyRecord", "ProxyRejection", "ProxyTracker", "sync_status"]


@dataclass(frozen=True, slots=True)
class ProxyRejection:
    """One resource a proxy did not apply, and its reason."""

    kind: str
    namespace: str
    name: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyRecord:
    """The last report of one proxy, and when it was last seen (``clock`` time)."""

    id: str
    service: str
    namespace: str
    labels: Mapping[str, str]
    applied: int
    rejections: tuple[ProxyRejection, ...]
    seen: float
    generation: int = 0


def sync_status(applied: int, current: int) -> str:
    """istioctl proxy-status's words: ``SYNCED`` when the proxy applied the registry's
    current revision, ``STALE`` otherwise (behind, or it never applied one)."""
    return "SYNCED" if applied == current and applied > 0 else "STALE"


class ProxyTracker:
    """The proxies of one replica, by id."""

    def __init__(
        self,
        *,
        expiry: float,
        limit: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.expiry = expiry
        self.limit = limit
        self.clock = clock
        self._proxies: dict[str, ProxyRecord] = {}

    def report(self, record: ProxyRecord) -> bool:
        """Store ``record`` (its ``seen`` is set to now); False when the table is full (a
        bound on memory, reached after dropping expired proxies) and the proxy is new."""
        if record.id not in self._proxies and len(self._proxies) >= self.limit:
            self._sweep()
            if len(self._proxies) >= self.limit:
                return False
        self._proxies[record.id] = replace(record, seen=self.clock())
        return True

    def seen(
        self, proxy_id: str, *, applied: int | None = None, generation: int | None = None
    ) -> bool:
        """Mark ``proxy_id`` as seen now, at revision ``applied`` when given; False when
        the full report is needed: the proxy is not known (never reported, or expired)
        or its report is not of ``generation`` (then ``applied`` is not taken either)."""
        record = self._proxies.get(proxy_id)
        if record is None or self._expired(record):
            return False
        current = generation is None or generation == record.generation
        if current and applied is not None:
            record = replace(record, applied=applied)
        self._proxies[proxy_id] = replace(record, seen=self.clock())
        return current

    def get(self, proxy_id: str) -> ProxyRecord | None:
        record = self._proxies.get(proxy_id)
        return None if record is None or self._expired(record) else record

    def forget(self, proxy_id: str) -> bool:
        """Drop a proxy that stopped watching; False when it was not known."""
        return self._proxies.pop(proxy_id, None) is not None

    def proxies(self) -> list[ProxyRecord]:
        """The live proxies, by namespace, service and id (expired ones are dropped)."""
        self._sweep()
        return sorted(self._proxies.values(), key=lambda r: (r.namespace, r.service, r.id))

    def _expired(self, record: ProxyRecord) -> bool:
        return self.clock() - record.seen > self.expiry

    def _sweep(self) -> None:
        for proxy_id in [k for k, r in self._proxies.items() if self._expired(r)]:
            del self._proxies[proxy_id]
