"""A workload's SPIFFE identity: ``spiffe://<trust domain>/ns/<namespace>/sa/<account>``.

Istio names a workload by its namespace and Kubernetes service account inside a trust
domain (``cluster.local`` unless the mesh says otherwise). Certificates carry the URI form;
AuthorizationPolicy ``principals`` use the same text without the scheme
(``cluster.local/ns/default/sa/productpage``), which :attr:`SpiffeId.principal` gives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["DEFAULT_TRUST_DOMAIN", "SPIFFE_SCHEME", "SpiffeId"]

#: Istio's default ``meshConfig.trustDomain``.
DEFAULT_TRUST_DOMAIN = "cluster.local"
SPIFFE_SCHEME = "spiffe://"

# SPIFFE ID spec: trust domain = lowercase letters, digits, '.', '-', '_'; path segments
# of letters, digits, '.', '-', '_' (and not '.' or '..'). Kubernetes names fit inside.
_TRUST_DOMAIN = re.compile(r"[a-z0-9._-]+")
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")


def _check_segment(value: str, what: str) -> None:
    if not _SEGMENT.fullmatch(value) or value in (".", ".."):
        raise ValueError(f"invalid {what} {value!r} in a SPIFFE ID")


@dataclass(frozen=True, slots=True, order=True)
class SpiffeId:
    """``spiffe://<trust_domain>/ns/<namespace>/sa/<service_account>``, Istio's form."""

    trust_domain: str
    namespace: str
    service_account: str

    def __post_init__(self) -> None:
        if not _TRUST_DOMAIN.fullmatch(self.trust_domain):
            raise ValueError(f"invalid trust domain {self.trust_domain!r} in a SPIFFE ID")
        _check_segment(self.namespace, "namespace")
        _check_segment(self.service_account, "service account")

    @classmethod
    def of(
        cls, namespace: str, service_account: str, *, trust_domain: str = DEFAULT_TRUST_DOMAIN
    ) -> SpiffeId:
        return cls(trust_domain, namespace, service_account)

    @classmethod
    def parse(cls, text: str) -> SpiffeId:
        """Parse the URI form (``spiffe://td/ns/x/sa/y``) or the principal form (``td/ns/x/sa/y``).

        Raises ``ValueError`` for anything else: other path shapes are valid SPIFFE IDs but
        not Istio workload identities.
        """
        rest = text[len(SPIFFE_SCHEME) :] if text.startswith(SPIFFE_SCHEME) else text
        parts = rest.split("/")
        if len(parts) != 5 or parts[1] != "ns" or parts[3] != "sa":
            raise ValueError(
                f"not an Istio workload identity: {text!r} "
                "(expected spiffe://<trust domain>/ns/<namespace>/sa/<service account>)"
            )
        return cls(parts[0], parts[2], parts[4])

    @property
    def uri(self) -> str:
        """The URI SAN a workload certificate carries."""
        return f"{SPIFFE_SCHEME}{self.principal}"

    @property
    def principal(self) -> str:
        """Istio's ``source.principal``: the URI without ``spiffe://``."""
        return f"{self.trust_domain}/ns/{self.namespace}/sa/{self.service_account}"

    def __str__(self) -> str:
        return self.uri
