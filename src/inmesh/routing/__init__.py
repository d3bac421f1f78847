"""Routing: Istio's VirtualService and DestinationRule semantics compiled into a snapshot."""

from __future__ import annotations

from ._clusters import Cluster
from ._headers import HeaderEdit, apply_edits
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
    "ClientIdentity",
    "Cluster",
    "Decision",
    "Forward",
    "HeaderEdit",
    "HeaderSource",
    "Passthrough",
    "Redirect",
    "Reply",
    "RequestView",
    "Route",
    "Snapshot",
    "apply_edits",
]
