"""Credentials and what each may see and do.

Two kinds of bearer token, both stored only as their SHA-256:

- **admin**: every operation. One is created at the first start of a registry in its data
  directory (``admin-token``, mode 0600; ``registry/_data.py``) so the CLI on the same
  machine finds it.
- **join**: scoped to a namespace and optionally a service account, made by an admin
  (``inmesh registry token create``). It registers, heartbeats and deregisters workloads of
  its namespace (and service account) only, and reads the configuration *as a workload of
  its namespace sees it* (:func:`visible`).

Missing or unknown credentials are 401, known but insufficient ones 403.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..._namespaces import ROOT_NAMESPACE
from ..._namespaces import visible as exported
from .._errors import Denied
from ..store import Store, Token

__all__ = [
    "NAMESPACE_PRIVATE_KINDS",
    "ROOT_NAMESPACE",
    "Authenticator",
    "Principal",
    "digest",
    "visible",
]

#: Istio's ``meshConfig.rootNamespace``: security policy there applies to the whole mesh.

#: Kinds that only matter inside their own namespace (policy applies to the workloads of
#: its namespace; accounts and deployments describe them). Everything else describes
#: services and routes, which Istio shares mesh-wide unless ``exportTo`` says otherwise.
NAMESPACE_PRIVATE_KINDS = frozenset(
    {"AuthorizationPolicy", "PeerAuthentication", "Telemetry", "ServiceAccount", "Deployment"}
)
#: policy that applies mesh-wide from the root namespace (Istio's rule for these kinds)
_MESH_WIDE_POLICY = frozenset({"AuthorizationPolicy", "PeerAuthentication", "Telemetry"})


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's record."""

    token: Token

    @property
    def admin(self) -> bool:
        return self.token.role == "admin"

    def namespace_scope(self, requested: str | None, what: str) -> str | None:
        """The namespace a listing covers: any (None) or ``requested`` for admin; a join
        token's own namespace otherwise, and 403 if another one was asked for."""
        if self.admin:
            return requested
        own = self.token.namespace
        if requested not in (None, own):
            raise Denied(
                403, f"join token for namespace {own!r} cannot {what} of namespace {requested!r}"
            )
        return own

    def require_admin(self) -> None:
        if not self.admin:
            raise Denied(
                403,
                "this needs the admin token; a join token only registers "
                "workloads and reads configuration",
            )

    def require_workload(self, namespace: str, service_account: str | None) -> None:
        """A join token acts for workloads of its namespace (and service account) only."""
        if self.admin:
            return
        if namespace != self.token.namespace:
            raise Denied(
                403,
                f"join token for namespace {self.token.namespace!r} cannot act "
                f"for workloads in namespace {namespace!r}",
            )
        sa = self.token.service_account
        if sa is not None and service_account != sa:
            raise Denied(
                403,
                f"join token for service account {sa!r} cannot act for "
                f"service account {service_account!r}",
            )

    def require_read(self, kind: str | None, namespace: str | None) -> None:
        """Listing a namespace-private kind of another namespace is refused outright."""
        if self.admin or namespace is None or namespace == self.token.namespace:
            return
        if kind in NAMESPACE_PRIVATE_KINDS and not (
            namespace == ROOT_NAMESPACE and kind in _MESH_WIDE_POLICY
        ):
            raise Denied(
                403,
                f"join token for namespace {self.token.namespace!r} cannot "
                f"read {kind} in namespace {namespace!r}",
            )


def visible(principal: Principal, doc: Mapping[str, Any]) -> bool:
    """Whether ``doc`` is part of what ``principal`` may read (its namespace's view).

    Admins see everything. A join token sees its own namespace; from other namespaces,
    what Istio shares with a workload there: services, routes and endpoints as their
    ``exportTo`` allows (unset or ``*``: everyone; ``.``: own namespace; names: those), and
    security policy only from the root namespace.
    """
    if principal.admin:
        return True
    meta = doc.get("metadata") or {}
    namespace = meta.get("namespace") or "default"
    mine = principal.token.namespace
    if namespace == mine:
        return True
    kind = doc.get("kind")
    if kind in NAMESPACE_PRIVATE_KINDS:
        return namespace == ROOT_NAMESPACE and kind in _MESH_WIDE_POLICY
    spec = doc.get("spec") or {}
    export_to = spec.get("exportTo") if isinstance(spec, Mapping) else None
    return exported(export_to, namespace, mine or "")


class Authenticator:
    """Bearer token -> Principal, with a short cache so a thousand pollers do not each
    read the store (a revoked token stops working within ``cache_ttl`` seconds)."""

    def __init__(self, store: Store, *, cache_ttl: float = 5.0) -> None:
        self.store = store
        self.cache_ttl = cache_ttl
        self._cache: dict[str, tuple[Token | None, float]] = {}

    async def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Denied(401, "missing credentials: send 'Authorization: Bearer <token>'")
        scheme, _, secret = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Denied(401, "malformed Authorization header: expected 'Bearer <token>'")
        key = digest(secret.strip())
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[1] > now:
            token = hit[0]
        else:
            token = await self.store.find_token(key)
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (token, now + self.cache_ttl)
        if token is None:
            raise Denied(401, "unknown or revoked token")
        return Principal(token)

    def forget(self) -> None:
        """Drop cached lookups (after a token is revoked through this replica)."""
        self._cache.clear()
