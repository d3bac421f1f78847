"""Which kinds a configuration file may hold, and where each modelled kind's class lives.

The model classes are imported when the loader first meets their kind, so ``import inmesh``
builds no configuration model and a process pays only for the kinds it uses.

A document is one of:

- a kind inmesh models (:data:`MODELLED`): validated and loaded;
- a Kubernetes built-in kind the mesh has no use for (ConfigMap, Secret, Namespace, RBAC,
  ...), or a custom resource of another controller: skipped, as ``kubectl apply`` users
  expect when a file mixes an application's manifests with its mesh configuration (Istio's
  own ``samples/`` do);
- a mesh kind inmesh does not model yet (EnvoyFilter, Gateway API, ...), or an
  unknown kind in an ``*.istio.io`` group or a Kubernetes built-in group: refused by name.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, TypeGuard

from inmesh.config._support import unsupported_kind_message

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = [
    "BUILTIN_KINDS",
    "MODELLED",
    "kind_class",
    "skip_reason",
    "unknown_kind_message",
    "unsupported_message",
]

#: kind -> (module, class): the kinds inmesh models.
MODELLED: Mapping[str, tuple[str, str]] = {
    "VirtualService": ("inmesh.config._virtual_service", "VirtualService"),
    "DestinationRule": ("inmesh.config._destination_rule", "DestinationRule"),
    "ServiceEntry": ("inmesh.config._service_entry", "ServiceEntry"),
    "WorkloadEntry": ("inmesh.config._service_entry", "WorkloadEntry"),
    "Gateway": ("inmesh.config._gateway", "Gateway"),
    "Sidecar": ("inmesh.config._sidecar", "Sidecar"),
    "PeerAuthentication": ("inmesh.config._security", "PeerAuthentication"),
    "AuthorizationPolicy": ("inmesh.config._security", "AuthorizationPolicy"),
    "Telemetry": ("inmesh.config._telemetry", "Telemetry"),
    "Service": ("inmesh.config._kube", "KubeService"),
    "ServiceAccount": ("inmesh.config._kube", "KubeServiceAccount"),
    "Deployment": ("inmesh.config._kube", "KubeDeployment"),
}

#: API group -> the Kubernetes built-in kinds of that group ("" is the core group, ``v1``).
BUILTIN_KINDS: Mapping[str, frozenset[str]] = {
    "": frozenset(
        {
            "Binding",
            "ComponentStatus",
            "ConfigMap",
            "Endpoints",
            "Event",
            "LimitRange",
            "Namespace",
            "Node",
            "PersistentVolume",
            "PersistentVolumeClaim",
            "Pod",
            "PodTemplate",
            "ReplicationController",
            "ResourceQuota",
            "Secret",
            "Service",
            "ServiceAccount",
        }
    ),
    "apps": frozenset(
        {"ControllerRevision", "DaemonSet", "Deployment", "ReplicaSet", "StatefulSet"}
    ),
    "batch": frozenset({"CronJob", "Job"}),
    "autoscaling": frozenset({"HorizontalPodAutoscaler"}),
    "policy": frozenset({"PodDisruptionBudget"}),
    "rbac.authorization.k8s.io": frozenset(
        {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
    ),
    "networking.k8s.io": frozenset({"Ingress", "IngressClass", "NetworkPolicy"}),
    "storage.k8s.io": frozenset(
        {"CSIDriver", "CSINode", "CSIStorageCapacity", "StorageClass", "VolumeAttachment"}
    ),
    "apiextensions.k8s.io": frozenset({"CustomResourceDefinition"}),
    "admissionregistration.k8s.io": frozenset(
        {
            "MutatingWebhookConfiguration",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
            "ValidatingWebhookConfiguration",
        }
    ),
    "scheduling.k8s.io": frozenset({"PriorityClass"}),
    "coordination.k8s.io": frozenset({"Lease"}),
    "discovery.k8s.io": frozenset({"EndpointSlice"}),
    "certificates.k8s.io": frozenset({"CertificateSigningRequest"}),
    "node.k8s.io": frozenset({"RuntimeClass"}),
    "events.k8s.io": frozenset({"Event"}),
    "flowcontrol.apiserver.k8s.io": frozenset({"FlowSchema", "PriorityLevelConfiguration"}),
}


def _group(api_version: str) -> str:
    """``apps/v1`` -> ``apps``; ``v1`` (the core group) -> ``""``."""
    return api_version.rpartition("/")[0]


def _is_mesh_group(group: str) -> bool:
    return group == "istio.io" or group.endswith(".istio.io") or group.startswith("gateway.")


@functools.cache
def kind_class(kind: str) -> type[BaseModel] | None:
    """The model class of a modelled ``kind`` (its module imported now), else ``None``."""
    where = MODELLED.get(kind)
    if where is None:
        return None
    cls: type[BaseModel] = getattr(importlib.import_module(where[0]), where[1])
    return cls


def skip_reason(api_version: str, kind: str) -> str | None:
    """Why a document of this kind is skipped, or ``None`` when it is not skipped.

    Skipped: Kubernetes built-in kinds the mesh does not model, and custom resources of
    groups that are neither Istio's nor Kubernetes' own (another controller's business).
    """
    group = _group(api_version)
    if _is_mesh_group(group):
        return None
    if kind in MODELLED:
        return None  # a kind the mesh reads: a wrong apiVersion is refused, not skipped
    if kind in BUILTIN_KINDS.get(group, ()):
        return f"{kind} ({api_version}) is a Kubernetes kind the mesh does not use"
    if group in BUILTIN_KINDS or group.endswith(".k8s.io"):
        return None  # an unknown kind of a built-in group: refused, as kubectl would
    if not group:
        return None
    return f"{kind} ({api_version}) is not a mesh kind; left to its own controller"


def unsupported_message(api_version: str, kind: str) -> str | None:
    """The refusal of a mesh kind inmesh does not model yet (checked before anything else:
    a Gateway API ``Gateway`` is not Istio's ``Gateway``)."""
    return unsupported_kind_message(_group(api_version), kind)


def unknown_kind_message(api_version: str, kind: str) -> str:
    """The refusal of a kind that is neither modelled nor skipped."""
    known = ", ".join(sorted(MODELLED))
    return f"unknown kind {kind!r} (apiVersion {api_version!r}); expected one of {known}"


def is_list_kind(kind: object) -> TypeGuard[str]:
    """A ``kind: List`` (or ``...List``) wrapper whose ``items`` are the documents."""
    return isinstance(kind, str) and kind.endswith("List") and kind not in MODELLED


def list_without_items_message(kind: str) -> str:
    return f"a {kind} needs a list of items"


def not_a_mapping_message(doc: object) -> str:
    return f"expected a mapping with apiVersion, kind, metadata and spec, got {type(doc).__name__}"


def skipped_in_files(api_version: object, kind: object) -> str | None:
    """Why a file's document of this kind is skipped rather than read or refused (None:
    it is read, or refused): a kind that is neither modelled nor refused as not supported
    yet, with a reason from :func:`skip_reason`."""
    if not isinstance(kind, str) or not kind or kind in MODELLED:
        return None
    if not isinstance(api_version, str) or not api_version:
        return None
    if unsupported_message(api_version, kind) is not None:
        return None
    return skip_reason(api_version, kind)
