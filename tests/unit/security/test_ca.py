"""The CA: files, plug-in intermediates, and leaves exactly as Istio's CA issues them."""

from __future__ import annotations

import datetime
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from inmesh.security import (
    CertificateAuthority,
    CertificateError,
    SpiffeId,
    TrustBundle,
    generate_key,
    make_csr,
)
from inmesh.security._ca import CLOCK_SKEW_GRACE

NOW = 1_800_000_000.0
ME = SpiffeId.of("shop", "front")


def clock() -> float:
    return NOW


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.init_root(tmp_path / "ca", clock=clock)


def leaf_of(ca: CertificateAuthority, **kw: float) -> x509.Certificate:
    key = generate_key()
    return ca.sign(make_csr(key, ME), identity=ME, **kw).leaf


def test_init_writes_istio_plugin_files(tmp_path: Path) -> None:
    CertificateAuthority.init_root(tmp_path / "ca")
    names = sorted(p.name for p in (tmp_path / "ca").iterdir())
    assert names == ["ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"]
    assert stat.S_IMODE((tmp_path / "ca" / "ca-key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ca").stat().st_mode) == 0o700


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    CertificateAuthority.init_root(tmp_path / "ca")
    before = (tmp_path / "ca" / "ca-key.pem").read_bytes()
    with pytest.raises(CertificateError, match="refusing to overwrite"):
        CertificateAuthority.init_root(tmp_path / "ca")
    assert (tmp_path / "ca" / "ca-key.pem").read_bytes() == before


def test_root_is_a_ca_for_the_trust_domain(ca: CertificateAuthority) -> None:
    root = ca.certificate
    assert root.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        "cluster.local"
    )
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert root.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign


def test_load_round_trips(ca: CertificateAuthority, tmp_path: Path) -> None:
    loaded = CertificateAuthority.load(tmp_path / "ca")
    assert loaded.certificate == ca.certificate
    assert loaded.trust_bundle.roots == (ca.certificate,)


def test_leaf_is_issued_as_istio_does(ca: CertificateAuthority) -> None:
    leaf = leaf_of(ca)
    assert leaf.subject == x509.Name([])
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical
    assert list(san.value) == [x509.UniformResourceIdentifier(ME.uri)]
    ku = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical
    assert (ku.value.digital_signature, ku.value.key_encipherment) == (True, True)
    assert not ku.value.key_cert_sign
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.not_valid_before_utc.timestamp() == NOW - CLOCK_SKEW_GRACE == NOW - 120
    assert leaf.not_valid_after_utc.timestamp() == NOW + 24 * 3600
    assert 0 < leaf.serial_number < 2**128
    leaf.verify_directly_issued_by(ca.certificate)


def test_serials_are_random(ca: CertificateAuthority) -> None:
    serials = {leaf_of(ca).serial_number for _ in range(5)}
    assert len(serials) == 5


def test_chain_goes_up_to_the_root(ca: CertificateAuthority) -> None:
    issued = ca.sign(make_csr(generate_key(), ME), identity=ME)
    chain = x509.load_pem_x509_certificates(issued.chain_pem)
    assert chain[1:] == [ca.certificate]
    assert issued.root_pem == ca.trust_bundle.pem()
    assert issued.identity == ME and issued.lifetime == 24 * 3600 + 120


def test_ttl_default_explicit_and_max(ca: CertificateAuthority) -> None:
    assert leaf_of(ca, ttl=3600).not_valid_after_utc.timestamp() == NOW + 3600
    assert leaf_of(ca, ttl=0).not_valid_after_utc.timestamp() == NOW + 86400
    with pytest.raises(CertificateError, match="greater than the max allowed TTL"):
        leaf_of(ca, ttl=91 * 86400)


def test_max_ttl_is_configurable(tmp_path: Path) -> None:
    CertificateAuthority.init_root(tmp_path / "ca")
    ca = CertificateAuthority.load(tmp_path / "ca", default_ttl=60, max_ttl=120, clock=clock)
    assert leaf_of(ca).not_valid_after_utc.timestamp() == NOW + 60
    with pytest.raises(CertificateError):
        leaf_of(ca, ttl=121)
    with pytest.raises(CertificateError, match="default TTL"):
        CertificateAuthority.load(tmp_path / "ca", default_ttl=200, max_ttl=120)


def test_leaf_is_clamped_to_the_signing_certificate(tmp_path: Path) -> None:
    ca = CertificateAuthority.init_root(tmp_path / "ca", root_ttl=1800, clock=clock)
    not_after = leaf_of(ca).not_valid_after_utc.timestamp()
    assert not_after == ca.certificate.not_valid_after_utc.timestamp() == NOW + 1800


def test_expired_ca_refuses(tmp_path: Path) -> None:
    CertificateAuthority.init_root(tmp_path / "ca", root_ttl=10, clock=clock)
    later = CertificateAuthority.load(tmp_path / "ca", clock=lambda: NOW + 11)
    with pytest.raises(CertificateError, match="expired"):
        leaf_of(later)


def test_csr_signature_is_checked(ca: CertificateAuthority) -> None:
    csr = x509.load_pem_x509_csr(make_csr(generate_key(), ME))
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0xFF  # inside the signature
    forged = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(CertificateError, match="signature"):
        ca.sign(forged, identity=ME)


def test_csr_san_must_be_the_authorised_identity(ca: CertificateAuthority) -> None:
    other = SpiffeId.of("bank", "vault")
    with pytest.raises(CertificateError, match="may only be issued"):
        ca.sign(make_csr(generate_key(), other), identity=ME)


def test_csr_without_san_gets_the_identity(ca: CertificateAuthority) -> None:
    key = generate_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    leaf = ca.sign(csr, identity=ME).leaf
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [ME.uri]


def test_csr_with_a_dns_name_is_refused(ca: CertificateAuthority) -> None:
    key = generate_key()
    sans = [x509.UniformResourceIdentifier(ME.uri), x509.DNSName("front.shop")]
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName(sans), critical=True)
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    with pytest.raises(CertificateError, match="may only be issued"):
        ca.sign(csr, identity=ME)


def test_rsa_workload_keys(ca: CertificateAuthority) -> None:
    key = generate_key("rsa-2048")
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert isinstance(ca.sign(make_csr(key, ME), identity=ME).leaf.public_key(), rsa.RSAPublicKey)
    assert isinstance(generate_key(), ec.EllipticCurvePrivateKey)
    with pytest.raises(ValueError):
        generate_key("dsa")  # type: ignore[arg-type]


def test_not_pem_is_refused(ca: CertificateAuthority) -> None:
    with pytest.raises(CertificateError, match="not a PEM certificate signing request"):
        ca.sign(b"hello", identity=ME)


# -- plug-in CA: an operator's intermediate -----------------------------------------------


def _intermediate(root_dir: Path, out: Path) -> CertificateAuthority:
    root = CertificateAuthority.load(root_dir)
    root_key = serialization.load_pem_private_key(
        (root_dir / "ca-key.pem").read_bytes(), password=None
    )
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cluster.local")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Intermediate")]))
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(root_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    out.mkdir()
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (out / "ca-cert.pem").write_bytes(pem)
    (out / "ca-key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (out / "root-cert.pem").write_bytes(root.trust_bundle.pem())
    (out / "cert-chain.pem").write_bytes(pem + root.trust_bundle.pem())
    return CertificateAuthority.load(out)


def test_plugged_in_intermediate(tmp_path: Path) -> None:
    CertificateAuthority.init_root(tmp_path / "root")
    inter = _intermediate(tmp_path / "root", tmp_path / "plug")
    issued = inter.sign(make_csr(generate_key(), ME), identity=ME)
    chain = x509.load_pem_x509_certificates(issued.chain_pem)
    assert len(chain) == 3
    chain[0].verify_directly_issued_by(chain[1])
    chain[1].verify_directly_issued_by(chain[2])
    assert chain[2] in inter.trust_bundle


def test_plugged_in_without_cert_chain_adds_the_root(tmp_path: Path) -> None:
    CertificateAuthority.init_root(tmp_path / "root")
    _intermediate(tmp_path / "root", tmp_path / "plug")
    (tmp_path / "plug" / "cert-chain.pem").unlink()
    inter = CertificateAuthority.load(tmp_path / "plug")
    assert len(x509.load_pem_x509_certificates(inter.chain_pem)) == 2


def test_plugged_in_with_a_foreign_root_is_refused(tmp_path: Path) -> None:
    CertificateAuthority.init_root(tmp_path / "root")
    other = CertificateAuthority.init_root(tmp_path / "other")
    _intermediate(tmp_path / "root", tmp_path / "plug")
    (tmp_path / "plug" / "root-cert.pem").write_bytes(other.trust_bundle.pem())
    (tmp_path / "plug" / "cert-chain.pem").unlink()
    with pytest.raises(CertificateError, match="does not lead to a root"):
        CertificateAuthority.load(tmp_path / "plug")


def test_key_must_match_the_certificate(tmp_path: Path) -> None:
    CertificateAuthority.init_root(tmp_path / "a")
    CertificateAuthority.init_root(tmp_path / "b")
    (tmp_path / "a" / "ca-key.pem").write_bytes((tmp_path / "b" / "ca-key.pem").read_bytes())
    with pytest.raises(CertificateError, match="does not match"):
        CertificateAuthority.load(tmp_path / "a")


def test_missing_directory_and_files(tmp_path: Path) -> None:
    with pytest.raises(CertificateError, match="not a CA directory"):
        CertificateAuthority.load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CertificateError, match=r"ca-cert\.pem: cannot read"):
        CertificateAuthority.load(tmp_path / "empty")


def test_trust_bundle_with_several_roots(tmp_path: Path) -> None:
    old = CertificateAuthority.init_root(tmp_path / "old").trust_bundle
    new = CertificateAuthority.init_root(tmp_path / "new").trust_bundle
    both = old.merged(new)
    assert both.roots == old.roots + new.roots
    assert both.merged(new) == both
    assert TrustBundle.from_pem(both.pem()) == both
    (tmp_path / "bundle.pem").write_bytes(both.pem())
    assert TrustBundle.from_file(tmp_path / "bundle.pem") == both


def test_trust_bundle_rejects_a_leaf(ca: CertificateAuthority) -> None:
    with pytest.raises(CertificateError, match="is not a CA"):
        TrustBundle((leaf_of(ca),))
    with pytest.raises(CertificateError, match="at least one"):
        TrustBundle(())
