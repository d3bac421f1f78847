"""This hop's x-forwarded-client-cert element, from a real certificate of the mesh CA."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from inmesh.inbound._xfcc import client_cert_details
from inmesh.security import CertificateAuthority, SpiffeId

FRONTEND = SpiffeId.of("shop", "frontend")
PAYMENTS = SpiffeId.of("shop", "payments")


def test_the_element_names_both_ends_and_the_certificate_hash(tmp_path: Path) -> None:
    _, issued = CertificateAuthority.init_root(tmp_path / "ca").issue(FRONTEND)
    der = x509.load_pem_x509_certificate(issued.chain_pem).public_bytes(Encoding.DER)
    details = client_cert_details(der, local_uri=PAYMENTS.uri).decode()
    # Envoy's order: By, Hash, then Subject and URI (Istio's set_current_client_cert_details);
    # Istio's workload certificates have an empty subject and no DNS SAN.
    assert details == (
        f'By={PAYMENTS.uri};Hash={hashlib.sha256(der).hexdigest()};Subject="";URI={FRONTEND.uri}'
    )
    assert client_cert_details(der, local_uri=None).decode().startswith("Hash=")
