"""What one watcher may see: the single place where a per-watcher scope is decided.

Istio pushes a proxy only the configuration in its scope: what its namespace may see
(``exportTo``, applied here through :func:`~inmesh.registry.server._auth.visible`) and,
with a ``Sidecar`` resource, only the hosts it egresses to. Every answer of ``/v1/watch``
(a full snapshot and a delta alike) filters documents through one :class:`WatchScope`,
built by :func:`watch_scope`; a finer scope (Istio's ``Sidecar``) plugs in there and
nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..store import ResourceKey
from ._auth import Principal, visible
from ._proxies import ProxyRecord

__all__ = ["WatchScope", "watch_scope"]

Document = Mapping[str, Any]


def _nothing(key: ResourceKey) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class WatchScope:
    """A watcher's view of the configuration.

    ``name`` identifies the predicate (watchers whose scopes share a name get the same
    serialized answer, so it must change whenever ``sees`` would answer differently);
    ``sees`` says whether a document is in the view; ``depends_on`` names the resources
    the scope itself is computed from (a ``Sidecar``): when one of them changed since a
    watcher's revision, what it may see changed too, and it gets a full snapshot instead
    of a delta.
    """

    name: str
    sees: Callable[[Document], bool]
    depends_on: Callable[[ResourceKey], bool] = _nothing


def _everything(doc: Document) -> bool:
    return True


_ALL = WatchScope("*", _everything)


def watch_scope(
    principal: Principal,
    documents: Mapping[ResourceKey, Document],
    proxy: ProxyRecord | None = None,
) -> WatchScope:
    """The scope of a watcher calling with ``principal``'s token, given the current
    ``documents`` and, when the watcher reports its status, its ``proxy`` record (its
    namespace and workload labels).

    Admin: everything. A join token: its namespace's view (Istio's ``exportTo``, and
    security policy only from its own and the root namespace: ``_auth.visible``).

    ``documents`` and ``proxy`` are unused today. Istio's ``Sidecar`` plugs in here: the
    Sidecar that applies to the proxy (``workloadSelector`` on its labels, else its
    namespace's default, else the root namespace's) is found in ``documents``; ``sees``
    then also requires the document's hosts to match ``egress.hosts``; ``depends_on``
    names the Sidecars consulted; and ``name`` includes their resourceVersions.
    """
    del documents, proxy  # read by the Sidecar scope
    if principal.admin:
        return _ALL
    return WatchScope(f"ns:{principal.token.namespace}", lambda doc: visible(principal, doc))
