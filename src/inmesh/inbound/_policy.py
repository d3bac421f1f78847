"""The workload's inbound configuration in force, resolved once per configuration revision.

:class:`InboundPolicy` answers the two questions inbound enforcement asks, from the
configuration in force: which PeerAuthentication mode a new connection gets, and which
compiled AuthorizationPolicy evaluator a request goes through. It reads the Mesh's
current snapshot (or resources given directly) and re-resolves only when the revision
changes, so a change applies to the next connection and the next request, without a restart.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._namespaces import ROOT_NAMESPACE
from ._mtls_mode import MtlsPolicy, resolve_mtls

if TYPE_CHECKING:
    from .._mesh import Mesh
    from ..security import AuthzRequest, Decision, WorkloadAuthorizer

__all__ = ["InboundPolicy", "Resolved"]

log = logging.getLogger("inmesh.inbound")


class _RefuseAll:
    """Stands in for authorization when the policies in force cannot be compiled: a
    security policy is never ignored, so every request is denied until they are fixed."""

    def __init__(self, reason: str) -> None:
        from ..security import Decision

        self._decision = Decision(False, None, "DENY", reason=reason)

    def check(self, request: AuthzRequest) -> Decision:
        return self._decision

    def check_raw(self, **request: Any) -> Decision:
        return self._decision


@dataclass(frozen=True, slots=True)
class Resolved:
    """One revision's answers: the mTLS mode and the authorizer (``None``: no
    AuthorizationPolicy exists at all, so nothing is evaluated)."""

    revision: int
    mtls: MtlsPolicy
    authorizer: WorkloadAuthorizer | _RefuseAll | None


_BY_MESH: weakref.WeakKeyDictionary[Any, InboundPolicy] = weakref.WeakKeyDictionary()


class InboundPolicy:
    """The inbound policy of one workload (``namespace``, ``labels``).

    Give ``mesh`` (its current snapshot is read) or ``resources`` (a fixed list, replaced
    with :meth:`update`).
    """

    def __init__(
        self,
        *,
        namespace: str = "default",
        labels: Mapping[str, str] | None = None,
        resources: Iterable[Any] = (),
        mesh: Mesh | None = None,
        root_namespace: str = ROOT_NAMESPACE,
    ) -> None:
        self.namespace = mesh.namespace if mesh is not None else namespace
        self.labels = dict(mesh.labels if mesh is not None else (labels or {}))
        self.root_namespace = root_namespace
        self._mesh = mesh
        self._resources = tuple(resources)
        self._revision = 0
        self._resolved: Resolved | None = None

    @classmethod
    def for_mesh(cls, mesh: Mesh) -> InboundPolicy:
        """The one InboundPolicy of ``mesh`` (shared by its listener and its middleware)."""
        found = _BY_MESH.get(mesh)
        if found is None:
            found = _BY_MESH[mesh] = cls(mesh=mesh)
        return found

    def update(self, resources: Iterable[Any]) -> None:
        """Replace the resources (without a Mesh): new connections and requests use them."""
        if self._mesh is not None:
            raise ValueError("this policy follows a Mesh: use mesh.apply(...)")
        self._resources = tuple(resources)
        self._revision += 1

    def current(self) -> Resolved:
        """The answers for the configuration in force (cached per revision)."""
        if self._mesh is not None:
            snapshot = self._mesh._state.snapshot  # Mesh.snapshot, without the property
            revision, resources = snapshot.revision, snapshot.resources
        else:
            revision, resources = self._revision, self._resources
        resolved = self._resolved
        if resolved is None or resolved.revision != revision:
            resolved = self._resolved = self._resolve(revision, resources)
        return resolved

    def _resolve(self, revision: int, resources: tuple[Any, ...]) -> Resolved:
        mtls = resolve_mtls(
            resources,
            namespace=self.namespace,
            labels=self.labels,
            root_namespace=self.root_namespace,
        )
        authorizer: WorkloadAuthorizer | _RefuseAll | None = None
        if any(getattr(r, "kind", None) == "AuthorizationPolicy" for r in resources):
            from .._errors import ConfigError
            from ..security import Authorizer

            try:
                authorizer = Authorizer(resources, root_namespace=self.root_namespace).for_workload(
                    namespace=self.namespace, labels=self.labels
                )
            except ConfigError as exc:
                log.error("AuthorizationPolicy not applied, every request is denied: %s", exc)
                authorizer = _RefuseAll(f"the AuthorizationPolicies in force are invalid: {exc}")
        log.debug(
            "inbound policy revision %d: mTLS %s (%s)",
            revision,
            mtls.mode,
            mtls.policy or "default",
        )
        return Resolved(revision, mtls, authorizer)
