"""Host names as Istio resolves them.

Short names in Istio rules (``reviews``) are relative to the rule's namespace:
``reviews.<ns>.svc.cluster.local``. A Kubernetes-style service is reachable from a client by
``reviews`` (same namespace only), ``reviews.<ns>``, ``reviews.<ns>.svc`` and the FQDN, as a
pod's DNS search path and Istio's virtual-host domains allow. ServiceEntry hosts are taken
literally, wildcards (``*.example.com``) included.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

CLUSTER_DOMAIN = "svc.cluster.local"
_SUFFIX = "." + CLUSTER_DOMAIN

T = TypeVar("T")


def to_fqdn(host: str, namespace: str) -> str:
    """Expand a short name relative to ``namespace``; names with a dot, and ``*``, stay."""
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


class HostTable(Generic[T]):
    """Values by host name: exact names first, then the most specific wildcard."""

    __slots__ = ("_exact", "_wild")

    def __init__(self) -> None:
        self._exact: dict[str, T] = {}
        self._wild: list[tuple[str, T]] = []

    def add(self, names: Iterable[str], value: T) -> None:
        """Add ``value`` under each name; the first value added for a name wins."""
        for name in names:
            if name.startswith("*"):
                if all(p != name for p, _ in self._wild):
                    self._wild.append((name, value))
                    # most specific (longest) wildcard first; "*" last
                    self._wild.sort(key=lambda pv: -len(pv[0]))
            else:
                self._exact.setdefault(name, value)

    def get(self, host: str) -> T | None:
        v = self._exact.get(host)
        if v is not None:
            return v
        for pattern, value in self._wild:
            if host_matches(pattern, host):
                return value
        return None

    def __contains__(self, host: str) -> bool:
        return self.get(host) is not None
