"""The security layer's exception (a subclass of :class:`inmesh.InmeshError`)."""

from __future__ import annotations

from .._errors import InmeshError

__all__ = ["CertificateError"]


class CertificateError(InmeshError, ValueError):
    """A certificate, key, CSR or CA directory that cannot be used, or a leaf the CA refuses
    to issue (bad CSR signature, identity mismatch, TTL above the maximum, expired CA)."""
