"""Routing: Istio's VirtualService and DestinationRule semantics compiled into a snapshot."""

from __future__ import annotations

from ._clusters import Cluster
from ._headers import HeaderEdit, apply_edits
from ._mtls import TLS_MODE_ISTIO, TLS_MODE_LABEL, MeshMTLS
from ._request import HeaderSource, RequestView
from ._routes import Route
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
    "Snapshot",
    "apply_edits",
]
