"""``x-forwarded-client-cert`` as an Istio sidecar sets it for the application.

Istio's sidecar inbound listener configures Envoy with ``forward_client_cert_details:
APPEND_FORWARD`` and ``set_current_client_cert_details`` Subject, URI and DNS
(istio/istio ``pilot/pkg/networking/util/proxy_headers.go``,
``core/listener_inbound.go``). Envoy then (``ConnectionManagerUtility::
mutateXfccRequestHeader``):

- removes the header when the connection is not mutual TLS (the client presented no
  certificate), so a plaintext client cannot claim anything;
- on mutual TLS, appends ``,`` and one element for this hop to what the client sent:
  ``By=<our URI SAN>;Hash=<sha256 of the peer certificate, hex>;Subject="<peer subject>";
  URI=<peer URI SAN>`` and one ``DNS=<name>`` per DNS SAN.

Only the last element is this hop's, read from the verified certificate; earlier ones are
what the client forwarded. inmesh's own decisions never read the header (the peer comes
from the handshake); it is for applications written against Istio's.
"""

from __future__ import annotations

import hashlib

__all__ = ["client_cert_details"]


def client_cert_details(peer_der: bytes, *, local_uri: str | None) -> bytes:
    """This hop's XFCC element for the verified peer certificate ``peer_der``."""
    from cryptography import x509

    cert = x509.load_der_x509_certificate(peer_der)
    parts = []
    if local_uri:
        parts.append(f"By={local_uri}")
    parts.append(f"Hash={hashlib.sha256(peer_der).hexdigest()}")
    # "The Subject key still exists even if the subject is empty"; so does URI.
    parts.append(f'Subject="{cert.subject.rfc4514_string()}"')
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = sans.get_values_for_type(x509.UniformResourceIdentifier)
        dns = sans.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        uris, dns = [], []
    parts.append(f"URI={uris[0] if uris else ''}")
    parts.extend(f"DNS={name}" for name in dns)
    return ";".join(parts).encode("latin-1", "replace")
