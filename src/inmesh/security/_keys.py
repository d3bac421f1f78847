"""The workload side of issuance: a private key made in-process and a CSR for an identity.

As Istio's agent does, the workload makes its own key (ECDSA P-256 by default, RSA 2048 on
request) and sends only a CSR; the key is never serialized except into the process's own
TLS context (see :func:`inmesh.security.load_cert_chain`).
"""

from __future__ import annotations

from typing import Literal, TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ._identity import SpiffeId

__all__ = ["KeyType", "PrivateKey", "generate_key", "make_csr", "private_key_pem"]

KeyType = Literal["ec-p256", "rsa-2048"]
PrivateKey: TypeAlias = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def generate_key(key_type: KeyType = "ec-p256") -> PrivateKey:
    """A fresh private key: ECDSA P-256 (Istio's ``ECC_SIGNATURE_ALGORITHM=ECDSA``) or RSA
    2048 (Istio's default ``WORKLOAD_RSA_KEY_SIZE``)."""
    if key_type == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa-2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unknown key type {key_type!r} (expected 'ec-p256' or 'rsa-2048')")


def make_csr(key: PrivateKey, identity: SpiffeId) -> bytes:
    """A PEM CSR asking for ``identity``: empty subject, the SPIFFE URI as its only SAN
    (istio security/pkg/pki/util GenCSRTemplate), signed with SHA-256."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity.uri)]),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def private_key_pem(key: PrivateKey) -> bytes:
    """PKCS#8 PEM of ``key``, unencrypted: for the process's TLS context or a 0600 file."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
