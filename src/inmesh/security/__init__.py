"""Security: workload identity, the mesh CA, mTLS contexts and Istio's authorization.

- Identity (SPIFFE, ``spiffe://<td>/ns/<ns>/sa/<sa>``): :class:`SpiffeId`.
- The CA (istiod's role; Istio's plug-in CA files): :class:`CertificateAuthority`,
  :class:`IssuedCertificate`, :class:`TrustBundle` (several roots during a rotation).
- The workload side: :func:`generate_key`, :func:`make_csr`, :class:`RotationSchedule`
  (renew at half-life with jitter).
- ``trafficPolicy.tls.mode: ISTIO_MUTUAL`` and PeerAuthentication STRICT/PERMISSIVE:
  :func:`client_context`, :func:`server_context`, :func:`is_tls_client_hello`,
  :func:`peer_identity`, :func:`verify_peer`, the httpcore backends
  :class:`SpiffeBackend`/:class:`AsyncSpiffeBackend` (the server checked by its identity
  during connect), and :class:`TLSHolder`/:class:`WorkloadTLS` (certificate swap).
- AuthorizationPolicy: :func:`check`, :class:`AuthzRequest`, :class:`Decision`, and the
  compiled :class:`Authorizer`/:class:`WorkloadAuthorizer`; :func:`normalize_path` is
  Istio's default path normalization.
- DestinationRule TLS origination (SIMPLE/MUTUAL from files) lives in ``_upstream_tls``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# Every module loads on first use (PEP 562): the ones that need ``cryptography``,
# ``httpcore`` or the config models so that ``import inmesh`` does not pay for them, and
# the light ones so that a Mesh that calls plain-HTTP services (its clusters read
# ``_upstream_tls`` only) does not either.
from .._lazy import lazy_names

if TYPE_CHECKING:
    from ._authz import Authorizer, WorkloadAuthorizer, check
    from ._authz_path import normalize_path
    from ._authz_policy import DRY_RUN_ANNOTATION, ROOT_NAMESPACE
    from ._authz_request import AuthzRequest, Decision
    from ._bundle import TrustBundle
    from ._ca import DEFAULT_CERT_TTL, MAX_CERT_TTL, CertificateAuthority
    from ._errors import CertificateError
    from ._holder import TLSHolder, WorkloadTLS
    from ._httpcore import AsyncSpiffeBackend, SpiffeBackend
    from ._identity import DEFAULT_TRUST_DOMAIN, SpiffeId
    from ._keys import KeyType, generate_key, make_csr
    from ._peer import PeerIdentityError, peer_identity, verify_peer
    from ._rotation import RotationSchedule
    from ._tls import client_context, is_tls_client_hello, load_cert_chain, server_context
    from ._x509 import IssuedCertificate

_LAZY = {
    # standard library only, but a Mesh that calls plain-HTTP services needs none of them
    "AuthzRequest": "._authz_request",
    "CertificateError": "._errors",
    "DEFAULT_TRUST_DOMAIN": "._identity",
    "Decision": "._authz_request",
    "RotationSchedule": "._rotation",
    "SpiffeId": "._identity",
    "normalize_path": "._authz_path",
    # the evaluator reads the config models (pydantic): loaded when first used
    "Authorizer": "._authz",
    "WorkloadAuthorizer": "._authz",
    "check": "._authz",
    "DRY_RUN_ANNOTATION": "._authz_policy",
    "ROOT_NAMESPACE": "._authz_policy",
    "TrustBundle": "._bundle",
    "DEFAULT_CERT_TTL": "._ca",
    "MAX_CERT_TTL": "._ca",
    "CertificateAuthority": "._ca",
    "IssuedCertificate": "._x509",
    "TLSHolder": "._holder",
    "WorkloadTLS": "._holder",
    "AsyncSpiffeBackend": "._httpcore",
    "SpiffeBackend": "._httpcore",
    "KeyType": "._keys",
    "generate_key": "._keys",
    "make_csr": "._keys",
    "PeerIdentityError": "._peer",
    "peer_identity": "._peer",
    "verify_peer": "._peer",
    "client_context": "._tls",
    "is_tls_client_hello": "._tls",
    "load_cert_chain": "._tls",
    "server_context": "._tls",
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())

__all__ = [
    "DEFAULT_CERT_TTL",
    "DEFAULT_TRUST_DOMAIN",
    "DRY_RUN_ANNOTATION",
    "MAX_CERT_TTL",
    "ROOT_NAMESPACE",
    "AsyncSpiffeBackend",
    "Authorizer",
    "AuthzRequest",
    "CertificateAuthority",
    "CertificateError",
    "Decision",
    "IssuedCertificate",
    "KeyType",
    "PeerIdentityError",
    "RotationSchedule",
    "SpiffeBackend",
    "SpiffeId",
    "TLSHolder",
    "TrustBundle",
    "WorkloadAuthorizer",
    "WorkloadTLS",
    "check",
    "client_context",
    "generate_key",
    "is_tls_client_hello",
    "load_cert_chain",
    "make_csr",
    "normalize_path",
    "peer_identity",
    "server_context",
    "verify_peer",
]
