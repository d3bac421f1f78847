"""Who is calling: the peer identity read from the verified client certificate.

The identity comes only from the TLS handshake (the listener's verified peer certificate);
no header can set or change it. :func:`current_peer` gives the application the peer of
the request it is serving (a context variable that ``MeshMiddleware`` sets).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..telemetry._propagation import _inbound

if TYPE_CHECKING:
    from ..security import SpiffeId

__all__ = [
    "ANSWER_KEY",
    "CONNECTION_KEY",
    "InboundConnection",
    "Peer",
    "current_peer",
    "peer_from_extension",
]

#: The scope key the mesh listener sets for every request it serves (never from a header).
CONNECTION_KEY = "inmesh.connection"
#: The scope key under which the mesh listener offers ``MeshMiddleware`` the request's h11
#: connection, on which it sets the metadata exchange pair for the answer (``_h11.py``).
ANSWER_KEY = "inmesh.answer"


@dataclass(frozen=True, slots=True)
class Peer:
    """The verified caller: Istio's ``source.principal`` and the SPIFFE parts it is made of."""

    principal: str
    namespace: str
    service_account: str
    trust_domain: str

    @classmethod
    def from_identity(cls, identity: SpiffeId) -> Peer:
        return cls(
            identity.principal,
            identity.namespace,
            identity.service_account,
            identity.trust_domain,
        )


@dataclass(frozen=True, slots=True)
class InboundConnection:
    """What the mesh listener knows about one accepted connection.

    ``mtls`` is true once a mutual TLS handshake verified a client certificate from the mesh
    roots; ``peer`` is its SPIFFE identity (``None`` when the certificate carries none, and
    for plaintext); ``sni`` the server name the client asked for;
    ``client_cert_details`` this hop's ``x-forwarded-client-cert`` element (``_xfcc.py``).
    """

    mtls: bool
    peer: Peer | None = None
    sni: str | None = None
    client_cert_details: bytes = b""


def current_peer() -> Peer | None:
    """The verified peer of the request being served (``None`` for plaintext, or outside
    a request served under ``MeshMiddleware``)."""
    # the middleware keeps it in the request's InboundContext (one contextvar a request)
    inbound = _inbound.get()
    return inbound.peer if inbound is not None else None


_PEM_PEERS: dict[str, Peer | None] = {}


def peer_from_extension(scope: Mapping[str, Any]) -> Peer | None:
    """The peer of a server that fills asgiref's TLS extension itself."""
    tls = (scope.get("extensions") or {}).get("tls")
    chain = tls.get("client_cert_chain") if tls else None
    if not chain:
        return None
    pem = chain[0]
    if pem not in _PEM_PEERS:
        import ssl

        from ..security import peer_identity

        identity = peer_identity(ssl.PEM_cert_to_DER_cert(pem))
        if len(_PEM_PEERS) >= 1024:
            _PEM_PEERS.clear()
        _PEM_PEERS[pem] = Peer.from_identity(identity) if identity is not None else None
    return _PEM_PEERS[pem]
