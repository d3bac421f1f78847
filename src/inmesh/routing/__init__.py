"""Routing: Istio's VirtualService and DestinationRule semantics compiled into a snapshot.

- VirtualService ``http``: ``_routes.py`` (routes), ``_match.py`` (matches)
- DestinationRule: ``_policy.py`` (lookup, merge), ``_clusters.py`` (clusters)
- ServiceEntry, WorkloadEntry, Service: ``_services.py`` (services, endpoints)
- Sidecar, ``exportTo``: ``_scope.py`` (:func:`scope_for`, :class:`Scope`)
- istiod's push context: ``_compiler.py`` (the incremental compile: what changed, what it
  reaches), ``_parts.py`` (the per-host parts and the tables built from them)
- the routing decision: ``_snapshot.py`` (:meth:`Snapshot.decide`)
"""

from __future__ import annotations

from ._clusters import Cluster
from ._headers import HeaderEdit, apply_edits
from ._mtls import TLS_MODE_ISTIO, TLS_MODE_LABEL, MeshMTLS
from ._request import HeaderSource, RequestView
from ._routes import Route
from ._scope import Scope, scope_for
from ._snapshot import (
    OUTBOUND_ALLOW_ANY,
    OUTBOUND_REGISTRY_ONLY,
    ClientIdentity,
    Decision,
    Forward,
    Passthrough,
    Redirect,
    Reply,
    Snapshot,
)

__all__ = [
    "OUTBOUND_ALLOW_ANY",
    "OUTBOUND_REGISTRY_ONLY",
    "TLS_MODE_ISTIO",
    "TLS_MODE_LABEL",
    "ClientIdentity",
    "Cluster",
    "Decision",
    "Forward",
    "HeaderEdit",
    "HeaderSource",
    "MeshMTLS",
    "Passthrough",
    "Redirect",
    "Reply",
    "RequestView",
    "Route",
    "Scope",
    "Snapshot",
    "apply_edits",
    "scope_for",
]
