"""Istio's namespace rules, each written once: the root namespace, ``exportTo`` visibility,
and label selection.

Pure functions over plain values (no configuration models), shared by routing, analysis and
the registry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["ROOT_NAMESPACE", "selects", "visible"]

#: Istio's root namespace (meshConfig ``rootNamespace``, default ``istio-system``): its
#: DestinationRules apply mesh-wide after the client's and the service's own, and its
#: security policies are mesh-wide.
ROOT_NAMESPACE = "istio-system"


def visible(export_to: Sequence[str] | None, owner_namespace: str, client_namespace: str) -> bool:
    """Istio's ``exportTo``: whether a resource of ``owner_namespace`` is visible from
    ``client_namespace``. Unset means ``*`` (everywhere: meshConfig's default export);
    ``.`` is the owner's own namespace; any other entry is a namespace name."""
    if not export_to:
        return True
    own = owner_namespace == client_namespace
    return any(ns == "*" or ns == client_namespace or (ns == "." and own) for ns in export_to)


def selects(selector: Mapping[str, str] | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes' equality-based label selection: every ``key: value`` of ``selector`` is
    in ``labels``. An empty (or absent) selector selects everything."""
    if not selector:
        return True
    # a plain loop: all() over a generator costs twice as much (a compile runs 60,000)
    for k, v in selector.items():  # noqa: SIM110
        if labels.get(k) != v:
            return False
    return True
