"""The registry as the mesh's certificate authority (istiod's role): where its CA comes
from, and what ``GET /v1/ca/roots`` and ``inmesh status`` say about it.

- ``--ca-dir DIR``: Istio's "plug in CA certificates" (``ca-cert.pem``, ``ca-key.pem``,
  ``root-cert.pem``, ``cert-chain.pem``); the operator's root or intermediate signs.
- otherwise, on SQLite: a self-signed root made at the first start in ``<data>/ca`` (key
  0600; istiod's self-signed CA) and loaded from there at every later start.
- on etcd (several replicas) ``--ca-dir`` is required: every replica must sign with the
  same CA, and the CA key is not put into etcd, where whoever reads the store (or a backup
  of it) could mint any identity. Istio shares one CA between istiod replicas the same
  way: the ``cacerts`` plug-in files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ...security import CertificateAuthority, CertificateError
from ...security._ca import CA_CERT_FILE, CA_KEY_FILE, DEFAULT_CERT_TTL, MAX_CERT_TTL
from ...security._identity import DEFAULT_TRUST_DOMAIN, SpiffeId
from .._errors import RegistryError
from ..store import iso_time

__all__ = ["CA_SUBDIR", "RegistryCA", "fingerprint", "open_ca"]

#: Where a registry keeps the root it made itself, inside its data directory.
CA_SUBDIR = "ca"


def fingerprint(cert: x509.Certificate) -> str:
    """``SHA256:ab:cd:...``, as ``openssl x509 -fingerprint -sha256`` prints it."""
    return "SHA256:" + cert.fingerprint(hashes.SHA256()).hex(":").upper()


def _cert_info(cert: x509.Certificate) -> dict[str, Any]:
    return {
        "fingerprint": fingerprint(cert),
        "subject": cert.subject.rfc4514_string(),
        "notBefore": iso_time(cert.not_valid_before_utc.timestamp()),
        "notAfter": iso_time(cert.not_valid_after_utc.timestamp()),
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryCA:
    """The CA the registry signs with, the trust domain of the identities it issues, and
    where the CA came from (``plug-in DIR`` or ``self-signed DIR``, for status)."""

    authority: CertificateAuthority
    trust_domain: str = DEFAULT_TRUST_DOMAIN
    source: str = "in memory"

    def __post_init__(self) -> None:
        SpiffeId.of("ns", "sa", trust_domain=self.trust_domain)  # ValueError when invalid

    def identity(self, namespace: str, service_account: str) -> SpiffeId:
        return SpiffeId.of(namespace, service_account, trust_domain=self.trust_domain)

    def root_pems(self) -> list[str]:
        from ...security._pem import certs_pem

        return [certs_pem([c]).decode() for c in self.authority.trust_bundle.roots]

    def describe(self) -> Mapping[str, Any]:
        """``GET /v1/ca/roots``: the trust bundle, and what signs (for ``inmesh status``)."""
        ca = self.authority
        return {
            "trustDomain": self.trust_domain,
            "rootCerts": self.root_pems(),
            "roots": [_cert_info(c) for c in ca.trust_bundle.roots],
            "signingCert": {**_cert_info(ca.certificate), "source": self.source},
            "defaultCertTTL": ca.default_ttl,
            "maxCertTTL": ca.max_ttl,
        }


def open_ca(
    data: Path,
    *,
    ca_dir: Path | None = None,
    trust_domain: str = DEFAULT_TRUST_DOMAIN,
    cert_ttl: float = DEFAULT_CERT_TTL,
    max_cert_ttl: float = MAX_CERT_TTL,
    shared_store: bool = False,
) -> RegistryCA:
    """The registry's CA: the plug-in directory ``ca_dir`` when given, else the
    self-signed root in ``data/ca`` (made now if there is none). ``shared_store`` (etcd)
    requires ``ca_dir``. Every problem is a RegistryError naming the option or file."""
    try:
        SpiffeId.of("ns", "sa", trust_domain=trust_domain)
    except ValueError:
        raise RegistryError(
            f"--trust-domain {trust_domain!r}: expected lowercase letters, digits, '.', '-' "
            "and '_' (a SPIFFE trust domain, e.g. cluster.local)"
        ) from None
    if not 0 < cert_ttl <= max_cert_ttl:
        raise RegistryError(
            f"--cert-ttl {cert_ttl:g}s must be positive and at most --max-cert-ttl "
            f"{max_cert_ttl:g}s"
        )
    try:
        if ca_dir is not None:
            authority = CertificateAuthority.load(
                ca_dir, default_ttl=cert_ttl, max_ttl=max_cert_ttl
            )
            source = f"plug-in {ca_dir}"
        else:
            if shared_store:
                raise RegistryError(
                    "--store etcd needs --ca-dir DIR: every replica must sign with the same "
                    "CA, and its key is not kept in etcd. Make one with `inmesh ca init DIR` "
                    "(or plug in your own: ca-cert.pem, ca-key.pem, root-cert.pem, "
                    "cert-chain.pem) and give every replica --ca-dir DIR"
                )
            own = data / CA_SUBDIR
            if not (own / CA_CERT_FILE).exists() and not (own / CA_KEY_FILE).exists():
                CertificateAuthority.init_root(own, trust_domain=trust_domain)
            authority = CertificateAuthority.load(own, default_ttl=cert_ttl, max_ttl=max_cert_ttl)
            source = f"self-signed {own}"
    except CertificateError as exc:
        where = "--ca-dir" if ca_dir is not None else "the registry's CA"
        raise RegistryError(f"{where}: {exc}") from None
    return RegistryCA(authority=authority, trust_domain=trust_domain, source=source)
