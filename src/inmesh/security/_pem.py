"""PEM helpers shared by the CA, the trust bundle and the TLS contexts."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ._errors import CertificateError

__all__ = ["certs_pem", "read_certs", "write_private", "write_public"]


def read_certs(data: bytes, what: str) -> tuple[x509.Certificate, ...]:
    """Every certificate in a PEM blob (at least one), or a CertificateError naming ``what``."""
    try:
        certs = tuple(x509.load_pem_x509_certificates(data))
    except ValueError as exc:
        raise CertificateError(f"{what}: not PEM certificates ({exc})") from None
    return certs


def certs_pem(certs: tuple[x509.Certificate, ...] | list[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def write_private(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 (never overwriting) and write ``data``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def write_public(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0644 (never overwriting) and write ``data``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
