"""X.509 building blocks for the CA: serials, key usages, the issued record, CSR and chain
checks (the CA's policy lives in :mod:`._ca`)."""

from __future__ import annotations

import datetime
import itertools
import secrets
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ._bundle import TrustBundle
from ._errors import CertificateError
from ._identity import SpiffeId
from ._keys import PrivateKey

__all__ = [
    "IssuedCertificate",
    "check_csr_sans",
    "default_chain",
    "key_usage",
    "random_serial",
    "signature_hash",
    "utc",
    "verify_chain",
]

_CHAIN_FILE = "cert-chain.pem"
_ROOT_FILE = "root-cert.pem"


def utc(ts: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)


def random_serial() -> int:
    # genSerialNum: uniform in [0, 2^128); X.509 wants a positive serial, so 0 is redrawn.
    while True:
        serial = secrets.randbits(128)
        if serial:
            return serial


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedCertificate:
    """A leaf and what a workload needs with it.

    ``chain_pem`` is the leaf followed by the CA chain up to the root (what a TLS context
    presents); ``root_pem`` is the trust bundle (what it verifies peers against).
    """

    identity: SpiffeId
    chain_pem: bytes
    root_pem: bytes
    serial: int
    not_before: float
    not_after: float

    @classmethod
    def from_pem(
        cls, *, identity: SpiffeId, chain_pem: bytes, root_pem: bytes
    ) -> IssuedCertificate:
        """What another CA issued (the registry's answer): the leaf must name ``identity``
        as its only URI SAN (a workload never runs with a certificate it did not ask for)."""
        try:
            leaf = x509.load_pem_x509_certificate(chain_pem)
            sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        except (ValueError, x509.ExtensionNotFound) as exc:
            raise CertificateError(f"the issued certificate is not usable: {exc}") from None
        uris = sans.value.get_values_for_type(x509.UniformResourceIdentifier)
        if uris != [identity.uri]:
            raise CertificateError(f"the issued certificate names {uris}, not {identity.uri}")
        return cls(
            identity=identity,
            chain_pem=chain_pem,
            root_pem=root_pem,
            serial=leaf.serial_number,
            not_before=leaf.not_valid_before_utc.timestamp(),
            not_after=leaf.not_valid_after_utc.timestamp(),
        )

    @property
    def leaf(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.chain_pem)

    @property
    def lifetime(self) -> float:
        return self.not_after - self.not_before


def signature_hash(key: PrivateKey) -> hashes.SHA256:
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise CertificateError("the CA key must be an ECDSA or RSA key")
    return hashes.SHA256()


def key_usage(*, digital_signature: bool, key_encipherment: bool, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def check_csr_sans(csr: x509.CertificateSigningRequest, identity: SpiffeId) -> None:
    try:
        sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return
    names = [getattr(n, "value", n) for n in sans]
    if [n for n in sans if not isinstance(n, x509.UniformResourceIdentifier)] or names != [
        identity.uri
    ]:
        shown = ", ".join(str(n) for n in names)
        raise CertificateError(
            f"the CSR asks for {shown}, but the caller may only be issued {identity.uri}"
        )


def default_chain(cert: x509.Certificate, bundle: TrustBundle) -> tuple[x509.Certificate, ...]:
    if cert in bundle:
        return (cert,)
    for root in bundle.roots:
        if root.subject == cert.issuer:
            return (cert, root)
    return (cert,)


def verify_chain(chain: tuple[x509.Certificate, ...], bundle: TrustBundle) -> None:
    """Each certificate is signed by the next, and the last by (or is) a root of the bundle."""
    for child, parent in itertools.pairwise(chain):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            raise CertificateError(
                f"{_CHAIN_FILE}: {child.subject.rfc4514_string()} is not issued by "
                f"{parent.subject.rfc4514_string()}"
            ) from None
    last = chain[-1]
    if last in bundle:
        return
    for root in bundle.roots:
        try:
            last.verify_directly_issued_by(root)
            return
        except (ValueError, TypeError, InvalidSignature):
            continue
    raise CertificateError(
        f"the CA chain does not lead to a root in {_ROOT_FILE} "
        f"({last.subject.rfc4514_string() or '(empty subject)'} is issued by "
        f"{last.issuer.rfc4514_string()})"
    )
