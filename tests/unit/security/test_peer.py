from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from inmesh.security import CertificateAuthority, SpiffeId, is_tls_client_hello, peer_identity
from tests.certs import make_server_cert

ME = SpiffeId.of("shop", "front")


def test_identity_from_a_mesh_certificate(tmp_path: Path) -> None:
    ca = CertificateAuthority.init_root(tmp_path / "ca")
    _, issued = ca.issue(ME)
    der = issued.leaf.public_bytes(serialization.Encoding.DER)
    assert peer_identity(der) == ME


def test_no_identity(tmp_path: Path) -> None:
    assert peer_identity(None) is None
    assert peer_identity(b"") is None
    assert peer_identity(b"not a certificate") is None
    plain = make_server_cert(tmp_path, "web.example.com")
    cert = x509.load_pem_x509_certificate(plain.cert_file.read_bytes())
    assert peer_identity(cert.public_bytes(serialization.Encoding.DER)) is None


def test_first_byte_sniffing() -> None:
    assert is_tls_client_hello(b"\x16\x03\x01")
    assert not is_tls_client_hello(b"GET / HTTP/1.1")
    assert not is_tls_client_hello(b"PRI * HTTP/2.0")
