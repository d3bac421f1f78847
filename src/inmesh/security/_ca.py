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

import datetime
import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ._bundle import TrustBundle
from ._errors import CertificateError
from ._identity import DEFAULT_TRUST_DOMAIN, SpiffeId
from ._keys import KeyType, PrivateKey, generate_key, make_csr, private_key_pem
from ._pem import certs_pem, read_certs, write_private, write_public

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


def _utc(ts: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)


def _serial() -> int:
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

    @property
    def leaf(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.chain_pem)

    @property
    def lifetime(self) -> float:
        return self.not_after - self.not_before


def _signature_hash(key: PrivateKey) -> hashes.SHA256:
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise CertificateError("the CA key must be an ECDSA or RSA key")
    return hashes.SHA256()


def _key_usage(
    *, digital_signature: bool, key_encipherment: bool, cert_sign: bool
) -> x509.KeyUsage:
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
        _signature_hash(signing_key)
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
        _verify_chain((signing_cert, *chain[1:]) if chain else (signing_cert,), bundle)
        self._cert = signing_cert
        self._key = signing_key
        self._chain = chain or _default_chain(signing_cert, bundle)
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
            .serial_number(_serial())
            .not_valid_before(_utc(now - CLOCK_SKEW_GRACE))
            .not_valid_after(_utc(now + root_ttl))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                _key_usage(digital_signature=False, key_encipherment=False, cert_sign=True),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, _signature_hash(key))
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
        _check_csr_sans(csr, identity)
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
        serial = _serial()
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self._cert.subject)
            .public_key(public_key)
            .serial_number(serial)
            .not_valid_before(_utc(not_before))
            .not_valid_after(_utc(not_after))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                _key_usage(digital_signature=True, key_encipherment=True, cert_sign=False),
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
            .sign(self._key, _signature_hash(self._key))
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


def _check_csr_sans(csr: x509.CertificateSigningRequest, identity: SpiffeId) -> None:
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


def _default_chain(cert: x509.Certificate, bundle: TrustBundle) -> tuple[x509.Certificate, ...]:
    if cert in bundle:
        return (cert,)
    for root in bundle.roots:
        if root.subject == cert.issuer:
            return (cert, root)
    return (cert,)


def _verify_chain(chain: tuple[x509.Certificate, ...], bundle: TrustBundle) -> None:
    """Each certificate is signed by the next, and the last by (or is) a root of the bundle."""
    for child, parent in itertools.pairwise(chain):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            raise CertificateError(
                f"{CERT_CHAIN_FILE}: {child.subject.rfc4514_string()} is not issued by "
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
        f"the CA chain does not lead to a root in {ROOT_CERT_FILE} "
        f"({last.subject.rfc4514_string() or '(empty subject)'} is issued by "
        f"{last.issuer.rfc4514_string()})"
    )
