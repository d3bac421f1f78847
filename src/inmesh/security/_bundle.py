"""The mesh's trust bundle: the root certificates a workload accepts peers from.

It may hold several roots at once, which is how a root is rotated (Istio's "plug in CA
certificates" and root rotation): workloads trust old and new roots while leaves move over.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ._errors import CertificateError
from ._pem import certs_pem, read_certs

__all__ = ["TrustBundle"]


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


@dataclass(frozen=True, slots=True)
class TrustBundle:
    """One or more CA root certificates, in order."""

    roots: tuple[x509.Certificate, ...]

    def __post_init__(self) -> None:
        if not self.roots:
            raise CertificateError("a trust bundle needs at least one root certificate")
        for cert in self.roots:
            if not _is_ca(cert):
                raise CertificateError(
                    f"trust bundle: certificate {cert.subject.rfc4514_string() or '(empty)'} "
                    "is not a CA (basicConstraints CA:TRUE missing)"
                )

    @classmethod
    def from_pem(cls, data: bytes, *, what: str = "trust bundle") -> TrustBundle:
        return cls(read_certs(data, what))

    @classmethod
    def from_file(cls, path: str | Path) -> TrustBundle:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            message = f"{path}: cannot read the trust bundle ({exc.strerror})"
            raise CertificateError(message) from None
        return cls.from_pem(data, what=str(path))

    def pem(self) -> bytes:
        """Every root, PEM, as ``root-cert.pem`` holds them (``SSLContext`` ``cadata``)."""
        return certs_pem(self.roots)

    def merged(self, other: TrustBundle) -> TrustBundle:
        """Both bundles' roots (for a rotation: trust old and new at once)."""
        seen: dict[bytes, x509.Certificate] = {}
        for cert in (*self.roots, *other.roots):
            seen.setdefault(cert.fingerprint(hashes.SHA256()), cert)
        return TrustBundle(tuple(seen.values()))

    def __contains__(self, cert: object) -> bool:
        return isinstance(cert, x509.Certificate) and cert in self.roots
