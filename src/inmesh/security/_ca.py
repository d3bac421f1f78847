"""The mesh's certificate authority (istiod's role): a root or an operator's intermediate.

Files, with Istio's names for "plug in CA certificates" (istio security/pkg/pki/ca):

- ``ca-cert.pem``: the signing certificate (a self-signed root, or an intermediate);
- ``ca-key.pem``: its private key (mode 0600);
- ``root-cert.pem``: the trust bundle; several roots during a root rotation;
- ``cert-chain.pem``: the chain from ``ca-cert.pem`` up to the root, appended to every
  issued leaf (optional: ``ca-cert.pem``, plus the root when they differ).

:meth:`CertificateAuthority.init_root` writes all four for a new self-signed root, so a
directory made by ``inmesh ca init`` and an operator's plug-in directory load the same way.

Leaves are issued as Istio's CA issues them (security/pkg/pki/util/generate_cert.go
``genCertTemplateFromCSR``): empty subject; the SPIFFE URI as the only SAN, critical;
keyUsage digitalSignature+keyEncipherment (critical); extKeyUsage serverAuth+clientAuth;
basicConstraints CA:FALSE; a random 128-bit serial; notBefore = now - 2 min
(``ClockSkewGracePeriod``); notAfter = now + TTL, clamped to the signing certificate's
notAfter. A TTL of 0 or less means the default (24 h); a TTL above the maximum (90 days by
default, Istio's ``MAX_WORKLOAD_CERT_TTL``) is refused, as Istio's ``sign`` refuses it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ._bundle import TrustBundle
from ._errors import CertificateError
from ._identity import DEFAULT_TRUST_DOMAIN, SpiffeId
from ._keys import KeyType, PrivateKey, generate_key, make_csr, private_key_pem
from ._pem import certs_pem, read_certs, write_private, write_public
from ._x509 import (
    IssuedCertificate,
    check_csr_sans,
    default_chain,
    key_usage,
    random_serial,
    signature_hash,
    utc,
    verify_chain,
)

__all__ = [
    "CA_CERT_FILE",
    "CA_KEY_FILE",
    "CERT_CHAIN_FILE",
    "CLOCK_SKEW_GRACE",
    "DEFAULT_CERT_TTL",
    "MAX_CERT_TTL",
    "ROOT_CERT_FILE",
    "ROOT_TTL",
    "CertificateAuthority",
    "IssuedCertificate",
]

CA_CERT_FILE = "ca-cert.pem"
CA_KEY_FILE = "ca-key.pem"
ROOT_CERT_FILE = "root-cert.pem"
CERT_CHAIN_FILE = "cert-chain.pem"
_CA_FILES = (CA_CERT_FILE, CA_KEY_FILE, ROOT_CERT_FILE, CERT_CHAIN_FILE)

#: Istio's ``DEFAULT_WORKLOAD_CERT_TTL`` (24 h) and ``MAX_WORKLOAD_CERT_TTL`` (90 days).
DEFAULT_CERT_TTL = 24 * 3600.0
MAX_CERT_TTL = 90 * 24 * 3600.0
#: Istio's ``ClockSkewGracePeriod``: a certificate is valid from 2 minutes before issuance.
CLOCK_SKEW_GRACE = 120.0
#: Istio's self-signed root lifetime (``CITADEL_SELF_SIGNED_CA_CERT_TTL``, 10 years).
ROOT_TTL = 3650 * 24 * 3600.0


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CertificateError(f"{path}: cannot read ({exc.strerror})") from None


class CertificateAuthority:
    """Signs workload CSRs with a signing certificate whose chain ends at a trusted root.

    Build one with :meth:`init_root` (new self-signed root), :meth:`load` (a directory) or
    :meth:`from_pem`. ``clock`` returns the time in seconds (``time.time``); tests inject one.
    """

    def __init__(
        self,
        *,
        signing_cert: x509.Certificate,
        signing_key: PrivateKey,
        chain: tuple[x509.Certificate, ...],
        bundle: TrustBundle,
        default_ttl: float = DEFAULT_CERT_TTL,
        max_ttl: float = MAX_CERT_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        signature_hash(signing_key)
        if signing_cert.public_key() != signing_key.public_key():
            raise CertificateError(f"{CA_KEY_FILE} does not match {CA_CERT_FILE}")
        try:
            constraints = signing_cert.extensions.get_extension_for_class(x509.BasicConstraints)
            is_ca = constraints.value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            raise CertificateError(f"{CA_CERT_FILE} is not a CA certificate (CA:TRUE missing)")
        if not 0 < default_ttl <= max_ttl:
            raise CertificateError(
                f"default TTL {default_ttl:g}s must be positive and at most the max TTL "
                f"{max_ttl:g}s"
            )
        verify_chain((signing_cert, *chain[1:]) if chain else (signing_cert,), bundle)
        self._cert = signing_cert
        self._key = signing_key
        self._chain = chain or default_chain(signing_cert, bundle)
        self._bundle = bundle
        self._chain_pem = certs_pem(self._chain)
        self._root_pem = bundle.pem()
        self.default_ttl = default_ttl
        self.max_ttl = max_ttl
        self._clock = clock

    # -- construction ---------------------------------------------------------------

    @classmethod
    def init_root(
        cls,
        directory: str | Path,
        *,
        trust_domain: str = DEFAULT_TRUST_DOMAIN,
        key_type: KeyType = "ec-p256",
        root_ttl: float = ROOT_TTL,
        clock: Callable[[], float] = time.time,
    ) -> CertificateAuthority:
        """Create a self-signed root in ``directory`` (made 0700 if new) and load it.

        Refuses, changing nothing, if the directory already holds any of the CA files.
        """
        path = Path(directory)
        existing = [name for name in _CA_FILES if (path / name).exists()]
        if existing:
            raise CertificateError(
                f"{path}: already holds a CA ({', '.join(existing)}); refusing to overwrite it"
            )
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = generate_key(key_type)
        now = clock()
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, trust_domain)])
        root = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(random_serial())
            .not_valid_before(utc(now - CLOCK_SKEW_GRACE))
            .not_valid_after(utc(now + root_ttl))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                key_usage(digital_signature=False, key_encipherment=False, cert_sign=True),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, signature_hash(key))
        )
        root_pem = certs_pem([root])
        write_private(path / CA_KEY_FILE, private_key_pem(key))
        write_public(path / CA_CERT_FILE, root_pem)
        write_public(path / ROOT_CERT_FILE, root_pem)
        write_public(path / CERT_CHAIN_FILE, root_pem)
        return cls(
            signing_cert=root,
            signing_key=key,
            chain=(root,),
            bundle=TrustBundle((root,)),
            clock=clock,
        )

    @classmethod
    def load(
        cls,
        directory: str | Path,
        *,
        default_ttl: float = DEFAULT_CERT_TTL,
        max_ttl: float = MAX_CERT_TTL,
        clock: Callable[[], float] = time.time,
    ) -> CertificateAuthority:
        """Load a CA directory (``inmesh ca init``'s or an operator's plug-in files)."""
        path = Path(directory)
        if not path.is_dir():
            raise CertificateError(f"{path}: not a CA directory (run `inmesh ca init {path}`)")
        chain_file = path / CERT_CHAIN_FILE
        return cls.from_pem(
            ca_cert=_read(path / CA_CERT_FILE),
            ca_key=_read(path / CA_KEY_FILE),
            root_cert=_read(path / ROOT_CERT_FILE),
            cert_chain=_read(chain_file) if chain_file.exists() else None,
            default_ttl=default_ttl,
            max_ttl=max_ttl,
            clock=clock,
            where=str(path),
        )

    @classmethod
    def from_pem(
        cls,
        *,
        ca_cert: bytes,
        ca_key: bytes,
        root_cert: bytes,
        cert_chain: bytes | None = None,
        default_ttl: float = DEFAULT_CERT_TTL,
        max_ttl: float = MAX_CERT_TTL,
        clock: Callable[[], float] = time.time,
        where: str = "CA",
    ) -> CertificateAuthority:
        """A CA from the four plug-in files' contents (``cert_chain`` optional)."""
        certs = read_certs(ca_cert, f"{where}: {CA_CERT_FILE}")
        try:
            key = serialization.load_pem_private_key(ca_key, password=None)
        except (ValueError, TypeError) as exc:
            message = f"{where}: {CA_KEY_FILE}: not a PEM private key ({exc})"
            raise CertificateError(message) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise CertificateError(f"{where}: {CA_KEY_FILE}: must be an ECDSA or RSA key")
        bundle = TrustBundle.from_pem(root_cert, what=f"{where}: {ROOT_CERT_FILE}")
        chain = read_certs(cert_chain, f"{where}: {CERT_CHAIN_FILE}") if cert_chain else ()
        if chain and chain[0] != certs[0]:
            raise CertificateError(
                f"{where}: {CERT_CHAIN_FILE} must start with the certificate in {CA_CERT_FILE}"
            )
        try:
            return cls(
                signing_cert=certs[0],
                signing_key=key,
                chain=chain,
                bundle=bundle,
                default_ttl=default_ttl,
                max_ttl=max_ttl,
                clock=clock,
            )
        except CertificateError as exc:
            raise CertificateError(f"{where}: {exc}") from None

    # -- what it holds --------------------------------------------------------------

    @property
    def certificate(self) -> x509.Certificate:
        return self._cert

    @property
    def trust_bundle(self) -> TrustBundle:
        return self._bundle

    @property
    def chain_pem(self) -> bytes:
        """``cert-chain.pem``: the signing certificate up to the root."""
        return self._chain_pem

    # -- issuing --------------------------------------------------------------------

    def sign(self, csr_pem: bytes, *, identity: SpiffeId, ttl: float = 0.0) -> IssuedCertificate:
        """Issue a leaf for ``identity`` to the key in ``csr_pem``.

        The caller has decided that the requester may hold ``identity`` (the registry checks
        the join token's namespace); the CA checks that the CSR is well signed and that any
        SAN it asks for is exactly that identity. ``ttl`` in seconds; 0 means the default.
        """
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError as exc:
            raise CertificateError(f"not a PEM certificate signing request ({exc})") from None
        if not csr.is_signature_valid:
            raise CertificateError("the CSR's signature does not verify")
        check_csr_sans(csr, identity)
        public_key = csr.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise CertificateError("the CSR's key must be an ECDSA or RSA key")
        if ttl > self.max_ttl:
            raise CertificateError(
                f"requested TTL {ttl:g}s is greater than the max allowed TTL {self.max_ttl:g}s"
            )
        lifetime = ttl if ttl > 0 else self.default_ttl
        now = self._clock()
        signing_not_after = self._cert.not_valid_after_utc.timestamp()
        if now >= signing_not_after:
            raise CertificateError(
                f"the signing certificate expired at {self._cert.not_valid_after_utc.isoformat()}"
            )
        not_before = now - CLOCK_SKEW_GRACE
        not_after = min(now + lifetime, signing_not_after)
        serial = random_serial()
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self._cert.subject)
            .public_key(public_key)
            .serial_number(serial)
            .not_valid_before(utc(not_before))
            .not_valid_after(utc(not_after))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                key_usage(digital_signature=True, key_encipherment=True, cert_sign=False),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            # SAN is critical because the subject is empty (X.509 and SPIFFE; util/san.go).
            .add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity.uri)]),
                critical=True,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, signature_hash(self._key))
        )
        return IssuedCertificate(
            identity=identity,
            chain_pem=certs_pem([leaf]) + self._chain_pem,
            root_pem=self._root_pem,
            serial=serial,
            not_before=not_before,
            not_after=not_after,
        )

    def issue(
        self, identity: SpiffeId, *, key_type: KeyType = "ec-p256", ttl: float = 0.0
    ) -> tuple[PrivateKey, IssuedCertificate]:
        """Make a key and have it signed, in this process (``Mesh(ca=DIR)``, ``ca issue``)."""
        key = generate_key(key_type)
        return key, self.sign(make_csr(key, identity), identity=identity, ttl=ttl)
