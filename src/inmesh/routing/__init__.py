"""Routing: Istio's VirtualService and DestinationRule semantics compiled into a snapshot."""

from __future__ import annotations

from ._request import HeaderSource, RequestView
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
    "Decision",
    "Forward",
    "HeaderSource",
    "Passthrough",
    "Redirect",
    "Reply",
    "RequestView",
    "Snapshot",
]
