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
    security policy only from its own and the root namespace: ``_auth.visible``). A
    watcher that reports as a proxy is further scoped by the ``Sidecar`` that applies to
    it (Istio's selection: its workload's, else its namespace's default, else the root
    namespace's; ``routing.scope_for``): only the services its egress hosts import, the
    ServiceEntries the imported VirtualServices route to (Istio imports those too), and
    every other kind as before. A change to any Sidecar, or to a VirtualService (what it
    routes to decides what else is imported), gives a scoped watcher a full snapshot.
    """
    if principal.admin:
        base = _ALL
    else:
        base = WatchScope(f"ns:{principal.token.namespace}", lambda doc: visible(principal, doc))
    if proxy is None:
        return base
    parsed = _parsed(documents)
    if not parsed.sidecars:
        return base
    key = (base.name, proxy.namespace, tuple(sorted(proxy.labels.items())))
    scope = parsed.scopes.get(key)
    if scope is None:
        scope = parsed.scopes[key] = _sidecar_scope(base, parsed, proxy)
    return scope


@dataclass(slots=True)
class _Parsed:
    """What Sidecar scoping reads of one published revision's documents, once."""

    sidecars: list[Any]
    versions: str
    #: (namespace, hosts, exportTo, destination FQDNs) of every VirtualService
    virtual_services: list[tuple[str, list[str], Any, set[str]]]
    scopes: dict[tuple[Any, ...], WatchScope]


_LAST: list[tuple[Mapping[ResourceKey, Document], _Parsed]] = []
#: a parsed Sidecar or VirtualService's part, by key, at the resourceVersion it was parsed
#: at: a new revision parses only what changed (one VirtualService, not all of them)
_PARTS: dict[ResourceKey, tuple[str, Any]] = {}


def _version(doc: Document) -> str:
    return str((doc.get("metadata") or {}).get("resourceVersion", ""))


def _part(key: ResourceKey, doc: Document, keep: dict[ResourceKey, tuple[str, Any]]) -> Any:
    """The Sidecar model, or a VirtualService's (namespace, hosts, exportTo, destination
    FQDNs), of ``doc``: from the last revision when its resourceVersion is unchanged."""
    version = _version(doc)
    hit = _PARTS.get(key)
    if hit is None or hit[0] != version or not version:
        from ...config import parse_documents
        from ...routing._scope import destination_hosts

        (model,) = parse_documents([doc], compact=False)
        if key.kind == "Sidecar":
            hit = (version, model)
        else:
            spec = doc.get("spec") or {}
            hit = (
                version,
                (
                    model.namespace,
                    list(spec.get("hosts") or ()),
                    spec.get("exportTo"),
                    destination_hosts(model),
                ),
            )
    keep[key] = hit
    return hit[1]


def _parsed(documents: Mapping[ResourceKey, Document]) -> _Parsed:
    """The Sidecars and VirtualService destinations of ``documents`` (one revision's
    index: the last one is kept, holding a reference so that its id cannot be reused)."""
    if _LAST and _LAST[0][0] is documents:
        return _LAST[0][1]
    keep: dict[ResourceKey, tuple[str, Any]] = {}
    sidecar_keys = [k for k in documents if k.kind == "Sidecar"]
    sidecars = [_part(k, documents[k], keep) for k in sidecar_keys]
    vs = (
        [_part(k, d, keep) for k, d in documents.items() if k.kind == "VirtualService"]
        if sidecars
        else []
    )
    versions = ",".join(f"{k.namespace}/{k.name}@{_version(documents[k])}" for k in sidecar_keys)
    _PARTS.clear()
    _PARTS.update(keep)  # what this revision no longer has is dropped
    out = _Parsed(sidecars, versions, vs, {})
    _LAST[:] = [(documents, out)]
    return out


def _sidecar_scope(base: WatchScope, parsed: _Parsed, proxy: ProxyRecord) -> WatchScope:
    from ...routing import scope_for
    from ...routing._hosts import to_fqdn

    scope = scope_for(parsed.sidecars, proxy.namespace, proxy.labels)
    if scope.everything:
        return base
    extra: set[str] = set()
    for ns, hosts, export_to, destinations in parsed.virtual_services:
        if scope.sees("VirtualService", ns, hosts, export_to):
            extra |= destinations

    def sees(doc: Document) -> bool:
        if not base.sees(doc):
            return False
        kind = doc.get("kind", "")
        ns = (doc.get("metadata") or {}).get("namespace") or "default"
        spec = doc.get("spec") or {}
        hosts = spec.get("hosts") or ([spec["host"]] if spec.get("host") else [])
        if scope.sees(kind, ns, hosts, spec.get("exportTo")):
            return True
        return kind == "ServiceEntry" and any(to_fqdn(h, ns) in extra for h in hosts)

    def depends_on(key: ResourceKey) -> bool:
        return key.kind in ("Sidecar", "VirtualService")

    sidecar = scope.sidecar
    assert sidecar is not None  # not ``everything``
    name = (
        f"{base.name}|sidecar:{sidecar.namespace}/{sidecar.name}|{parsed.versions}"
        f"|{proxy.namespace}|{sorted(proxy.labels.items())}"
    )
    return WatchScope(name, sees, depends_on)
