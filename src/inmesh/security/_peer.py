"""The peer's identity, read from its verified certificate (never from a header).

:func:`peer_identity` parses a DER certificate (``ssl_object.getpeercert(True)``)
with ``cryptography`` and returns the SPIFFE ID in its URI SAN. :func:`verify_peer` is the
check a client makes right after the handshake, since Istio verifies a server by its SPIFFE
identity rather than by host name (``check_hostname`` is off in the mesh contexts).
"""

from __future__ import annotations

import ssl
from collections.abc import Collection

from cryptography import x509

from ._identity import SPIFFE_SCHEME, SpiffeId

__all__ = ["PeerIdentityError", "peer_identity", "verify_peer"]


class PeerIdentityError(ssl.SSLError):
    """The TLS peer is verified by the mesh CA but is not an identity this connection accepts.

    An ``ssl.SSLError`` so that transports treat it like any other handshake failure.
    """


def peer_identity(der_cert: bytes | None) -> SpiffeId | None:
    """The Istio workload identity in ``der_cert``'s URI SAN, or ``None`` when there is no
    certificate, no SAN, no ``spiffe://`` URI, or more than one (SPIFFE allows exactly one)."""
    if not der_cert:
        return None
    try:
        cert = x509.load_der_x509_certificate(der_cert)
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return None
    uris = [u for u in sans.get_values_for_type(x509.UniformResourceIdentifier)]
    spiffe = [u for u in uris if u.startswith(SPIFFE_SCHEME)]
    if len(spiffe) != 1:
        return None
    try:
        return SpiffeId.parse(spiffe[0])
    except ValueError:
        return None


def verify_peer(
    ssl_object: ssl.SSLObject | ssl.SSLSocket, allowed: Collection[SpiffeId]
) -> SpiffeId:
    """The peer's identity after a completed handshake, if it is one of ``allowed``.

    The chain was already verified against the mesh roots by the handshake
    (``CERT_REQUIRED``); this adds Istio's SAN check (``subjectAltNames`` / the destination's
    service accounts). An empty ``allowed`` accepts any identity from the mesh CA.
    Raises :class:`PeerIdentityError` otherwise.
    """
    identity = peer_identity(ssl_object.getpeercert(True))
    if identity is None:
        raise PeerIdentityError("the peer's certificate carries no SPIFFE identity")
    if allowed and identity not in allowed:
        expected = ", ".join(sorted(str(a) for a in allowed))
        raise PeerIdentityError(f"the peer is {identity}, expected {expected}")
    return identity
