"""PeerAuthentication: which inbound connections a workload accepts, resolved as Istio does.

Istio's rules (pilot/pkg/model/authentication.go ``getConfigsForWorkload`` and
pilot/pkg/security/authn/policy_applier.go ``ComposePeerAuthentication``):

- candidates: policies in the workload's namespace and in the root namespace whose
  ``selector.matchLabels`` is a subset of the workload's labels;
- a policy without a selector (or with empty ``matchLabels``) is mesh-wide in the root
  namespace, namespace-wide elsewhere; a policy with a selector is workload-level, and only
  outside the root namespace (a selector in the root namespace is ignored);
- at each level the oldest policy (``creationTimestamp``) wins;
- mesh, then namespace, then workload: a level whose mode is unset (or ``UNSET``) inherits;
  the default is PERMISSIVE;
- ``portLevelMtls`` comes from the workload-level policy only; an unset port mode inherits
  the workload's resolved mode.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from .._namespaces import ROOT_NAMESPACE

__all__ = ["DISABLE", "PERMISSIVE", "STRICT", "MtlsMode", "MtlsPolicy", "resolve_mtls"]

MtlsMode = Literal["STRICT", "PERMISSIVE", "DISABLE"]
STRICT: MtlsMode = "STRICT"
PERMISSIVE: MtlsMode = "PERMISSIVE"
DISABLE: MtlsMode = "DISABLE"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class MtlsPolicy:
    """The resolved inbound mode, with per-port overrides; ``policy`` names the
    ``namespace/name`` of the PeerAuthentication that set ``mode`` (``None``: the default)."""

    mode: MtlsMode = PERMISSIVE
    ports: Mapping[int, MtlsMode] = field(default_factory=dict)
    policy: str | None = None

    def mode_for(self, port: int | None) -> MtlsMode:
        """The mode for a connection accepted on ``port``."""
        if port is not None and self.ports:
            return self.ports.get(port, self.mode)
        return self.mode


def _mode(mtls: Any) -> MtlsMode | None:
    mode = getattr(mtls, "mode", None) if mtls is not None else None
    return None if mode in (None, "UNSET") else mode


def _age(resource: Any) -> tuple[datetime, str, str]:
    created = resource.metadata.creation_timestamp
    if created is None:
        created = _EPOCH  # undated policies (local files) tie, then go by namespace/name
    elif created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    return (created, resource.namespace or "", resource.name)


def resolve_mtls(
    resources: Iterable[Any],
    *,
    namespace: str,
    labels: Mapping[str, str] | None = None,
    root_namespace: str = ROOT_NAMESPACE,
) -> MtlsPolicy:
    """The PeerAuthentication mode of the workload (``namespace``, ``labels``) under the
    PeerAuthentication resources in ``resources`` (other kinds are skipped)."""
    labels = labels or {}
    mesh: Any = None
    ns_level: Any = None
    workload: Any = None
    for r in resources:
        if getattr(r, "kind", None) != "PeerAuthentication":
            continue
        if r.namespace not in (namespace, root_namespace):
            continue
        selector = r.spec.selector.match_labels if r.spec.selector is not None else {}
        if not all(labels.get(k) == v for k, v in selector.items()):
            continue
        if not selector:
            if r.namespace == root_namespace:
                if mesh is None or _age(r) < _age(mesh):
                    mesh = r
            elif ns_level is None or _age(r) < _age(ns_level):
                ns_level = r
        elif r.namespace != root_namespace and (workload is None or _age(r) < _age(workload)):
            workload = r
    mode: MtlsMode = PERMISSIVE
    source: str | None = None
    for level in (mesh, ns_level, workload):
        if level is not None and (m := _mode(level.spec.mtls)) is not None:
            mode, source = m, f"{level.namespace}/{level.name}"
    ports: dict[int, MtlsMode] = {}
    if workload is not None and workload.spec.port_level_mtls:
        for port, mtls in workload.spec.port_level_mtls.items():
            ports[int(port)] = _mode(mtls) or mode
    return MtlsPolicy(mode, ports, source)
