"""Host names as Istio resolves them.

Short names in Istio rules (``reviews``) are relative to the rule's namespace:
``reviews.<ns>.svc.cluster.local``. A Kubernetes-style service is reachable from a client by
``reviews`` (same namespace only), ``reviews.<ns>``, ``reviews.<ns>.svc`` and the FQDN, as a
pod's DNS search path and Istio's virtual-host domains allow. ServiceEntry hosts are taken
literally, wildcards (``*.example.com``) included.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Generic, TypeVar

CLUSTER_DOMAIN = "svc.cluster.local"
_SUFFIX = "." + CLUSTER_DOMAIN

T = TypeVar("T")

# Distinct non-canonical names a HostMap remembers before it starts over.
_FOUND_LIMIT = 4096


@functools.lru_cache(maxsize=1 << 16)
def to_fqdn(host: str, namespace: str) -> str:
    """Expand a short name relative to ``namespace``; names with a dot, and ``*``, stay.
    (Cached: every route destination to one host then shares one string.)"""
    host = host.lower()
    if "." in host or host == "*":
        return host
    return f"{host}.{namespace}{_SUFFIX}"


def aliases(fqdn: str, client_namespace: str) -> list[str]:
    """The names a client in ``client_namespace`` can use for ``fqdn``."""
    if not fqdn.endswith(_SUFFIX):
        return [fqdn]
    name_ns = fqdn[: -len(_SUFFIX)]
    if name_ns.count(".") != 1:
        return [fqdn]
    name, ns = name_ns.split(".")
    out = [f"{name}.{ns}", f"{name}.{ns}.svc", fqdn]
    if ns == client_namespace:
        out.insert(0, name)
    return out


def host_matches(pattern: str, host: str) -> bool:
    """Istio host matching: exact, ``*`` for everything, or ``*.suffix`` for subdomains."""
    if pattern == "*":
        return True
    if pattern.startswith("*"):
        return host.endswith(pattern[1:])
    return pattern == host


def expansions(host: str, client_namespace: str) -> tuple[str, ...]:
    """The canonical names a request host may stand for, as :func:`aliases` in reverse:
    ``reviews`` (the client's namespace), ``reviews.ns`` and ``reviews.ns.svc`` expand to
    ``reviews.<ns>.svc.cluster.local``; anything else stands for itself only."""
    if host == "*" or host.startswith("*"):
        return ()
    dots = host.count(".")
    if dots == 0:
        return (f"{host}.{client_namespace}{_SUFFIX}",)
    if dots == 1:
        return (host + _SUFFIX,)
    if dots == 2 and host.endswith(".svc"):
        return (host + ".cluster.local",)
    return ()


class HostMap(Generic[T]):
    """Values by canonical host (and extra exact names such as service addresses), looked
    up by any name a client may use: the name itself, then its expansions
    (:func:`expansions`), then the most specific wildcard. Built once per snapshot from
    per-host parts: a name maps to one value, so there is no alias table to keep."""

    __slots__ = ("_exact", "_extra", "_found", "_ns", "_wild")

    def __init__(
        self,
        exact: Mapping[str, T],
        wild: list[tuple[str, T]],
        client_namespace: str,
        *,
        extra: Mapping[str, T] | None = None,
    ) -> None:
        self._exact = exact
        #: names after the canonical ones (service addresses): the first given wins
        self._extra = extra or {}
        # most specific (longest) wildcard first; "*" last; the first among equals wins
        self._wild = sorted(wild, key=lambda pv: -len(pv[0]))
        self._ns = client_namespace
        #: what names other than canonical ones resolved to (short names, wildcards, misses):
        #: the map never changes, so each is resolved once; bounded, cleared when full
        self._found: dict[str, tuple[T | None]] = {}

    def get(self, host: str) -> T | None:
        v = self._exact.get(host)
        if v is not None and not host.startswith("*"):
            return v
        found = self._found.get(host)
        if found is not None:
            return found[0]
        v = self._resolve(host)
        if len(self._found) >= _FOUND_LIMIT:
            self._found = {}
        self._found[host] = (v,)
        return v

    def _resolve(self, host: str) -> T | None:
        exact = self._exact
        v = self._extra.get(host)
        if v is not None:
            return v
        for name in expansions(host, self._ns):
            v = exact.get(name)
            if v is not None:
                return v
        for pattern, value in self._wild:
            if host_matches(pattern, host):
                return value
        return None

    def __contains__(self, host: str) -> bool:
        return self.get(host) is not None

    def __len__(self) -> int:
        return len(self._exact) + len(self._extra)
