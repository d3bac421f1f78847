"""Every resource class at once: the ``Resource`` union and the ``KINDS`` table.

Importing this module imports every model (the loader does not: it imports a kind's module
when it first meets that kind, :mod:`inmesh.config._kinds`).
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

from inmesh.config._destination_rule import DestinationRule
from inmesh.config._gateway import Gateway
from inmesh.config._kinds import MODELLED, kind_class
from inmesh.config._kube import KubeDeployment, KubeService, KubeServiceAccount
from inmesh.config._security import AuthorizationPolicy, PeerAuthentication
from inmesh.config._service_entry import ServiceEntry, WorkloadEntry
from inmesh.config._sidecar import Sidecar
from inmesh.config._telemetry import Telemetry
from inmesh.config._virtual_service import VirtualService

__all__ = ["KINDS", "Resource"]

Resource = (
    VirtualService
    | DestinationRule
    | ServiceEntry
    | WorkloadEntry
    | Gateway
    | Sidecar
    | PeerAuthentication
    | AuthorizationPolicy
    | Telemetry
    | KubeService
    | KubeServiceAccount
    | KubeDeployment
)


def _versions(cls: type[Any]) -> tuple[str, ...]:
    return typing.get_args(cls.model_fields["api_version"].annotation)


#: kind -> (resource class, the apiVersions it is served under)
KINDS: Mapping[str, tuple[type[Any], tuple[str, ...]]] = {
    kind: (cls, _versions(cls)) for kind in MODELLED if (cls := kind_class(kind)) is not None
}
