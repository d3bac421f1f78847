"""The registry as the mesh's CA: ``POST /v1/certificates`` and ``GET /v1/ca/roots``
against real registries (in-process under uvicorn, and ``registry serve`` processes)."""

from __future__ import annotations

import itertools
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID

from inmesh.registry import RegistryClient, RegistryRejected
from inmesh.registry.client import SignedCertificate
from inmesh.registry.server import open_ca
from inmesh.security import CertificateAuthority, SpiffeId, generate_key, make_csr
from tests.unit.security.test_ca import _intermediate

from .conftest import Registry, spawn_registry, start_registry

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def csr(namespace: str = "a", account: str = "x", trust_domain: str = "cluster.local") -> str:
    identity = SpiffeId.of(namespace, account, trust_domain=trust_domain)
    return make_csr(generate_key(), identity).decode()


def chain_of(signed: SignedCertificate) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(signed.chain_pem.encode())


def verify_to_root(signed: SignedCertificate) -> list[x509.Certificate]:
    """Each certificate of the chain is issued by the next; the last by a returned root."""
    chain = chain_of(signed)
    roots = [x509.load_pem_x509_certificate(r.encode()) for r in signed.root_pems]
    for child, parent in itertools.pairwise(chain):
        child.verify_directly_issued_by(parent)
    top = chain[-1]
    if top not in roots:
        top.verify_directly_issued_by(next(r for r in roots if r.subject == top.issuer))
    return chain


async def test_a_join_token_gets_an_identity_in_its_namespace(registry: Registry) -> None:
    token = registry.join_token("a")
    async with RegistryClient(registry.url, token) as client:
        signed = await client.sign(csr(), namespace="a", service_account="x")
        roots = await client.roots()
    assert signed.identity == "spiffe://cluster.local/ns/a/sa/x"
    assert signed.root_pems == roots and len(roots) == 1
    leaf = verify_to_root(signed)[0]
    assert leaf.subject == x509.Name([])
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical
    assert [str(n.value) for n in san.value] == ["spiffe://cluster.local/ns/a/sa/x"]
    assert all(isinstance(n, x509.UniformResourceIdentifier) for n in san.value)
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert signed.not_after == leaf.not_valid_after_utc.timestamp()
    # the default TTL: 24 h from issuance, valid from 2 minutes before it
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert lifetime.total_seconds() == pytest.approx(24 * 3600 + 120, abs=2)


async def test_a_join_token_cannot_get_another_namespace_or_account(registry: Registry) -> None:
    async with RegistryClient(registry.url, registry.join_token("a")) as client:
        with pytest.raises(RegistryRejected) as info:
            await client.sign(csr("b"), namespace="b", service_account="x")
    assert info.value.status == 403
    assert info.value.messages == (
        "join token for namespace 'a' cannot act for workloads in namespace 'b'",
    )
    async with RegistryClient(registry.url, registry.join_token("a", "x")) as client:
        assert (await client.sign(csr(), namespace="a", service_account="x")).identity
        with pytest.raises(RegistryRejected) as info:
            await client.sign(csr("a", "y"), namespace="a", service_account="y")
    assert info.value.status == 403 and "service account 'x'" in str(info.value)
    async with RegistryClient(registry.url, registry.admin) as admin:
        signed = await admin.sign(csr("b", "y"), namespace="b", service_account="y")
    assert signed.identity == "spiffe://cluster.local/ns/b/sa/y"
    with registry.http(None) as anonymous:
        assert anonymous.get("/v1/ca/roots").status_code == 401
        assert anonymous.post("/v1/certificates", json={}).status_code == 401


async def test_a_csr_asking_for_another_identity_is_400(registry: Registry) -> None:
    async with RegistryClient(registry.url, registry.join_token("a")) as client:
        with pytest.raises(RegistryRejected) as info:
            await client.sign(csr("a", "other"), namespace="a", service_account="x")
    assert info.value.status == 400
    (message,) = info.value.messages
    assert "spiffe://cluster.local/ns/a/sa/other" in message
    assert "may only be issued spiffe://cluster.local/ns/a/sa/x" in message


def test_every_problem_in_one_400(registry: Registry) -> None:
    with registry.http() as c:
        r = c.post(
            "/v1/certificates",
            json={"csr": "not a pem", "namespace": "a", "ttl": "forever", "extra": 1},
        )
    assert r.status_code == 400
    messages = r.json()["messages"]
    assert messages[0] == "unknown field 'extra' in a certificate request"
    assert messages[1] == "serviceAccount is required"
    assert messages[2].startswith("ttl: invalid duration 'forever'")
    assert messages[3].startswith("csr: not a PEM certificate signing request")
    assert len(messages) == 4
    with registry.http() as c:
        r = c.post("/v1/workloads", json={"address": "127.0.0.1", "csr": "x"})
    assert r.status_code == 400 and "POST /v1/certificates" in r.json()["messages"][0]


@pytest.fixture
def capped(tmp_path: Path) -> Iterator[Registry]:
    data = tmp_path / "data"
    r = start_registry(data, ca=open_ca(data, cert_ttl=3600.0, max_cert_ttl=7200.0))
    yield r
    r.stop()


async def test_ttl_default_and_cap(capped: Registry) -> None:
    async with RegistryClient(capped.url, capped.admin) as client:
        default = chain_of(await client.sign(csr(), namespace="a", service_account="x"))[0]
        short = chain_of(await client.sign(csr(), namespace="a", service_account="x", ttl=600))[0]
        with pytest.raises(RegistryRejected) as info:
            await client.sign(csr(), namespace="a", service_account="x", ttl=7201)
    assert info.value.status == 400
    assert info.value.messages == (
        "ttl 7201s is greater than the max allowed TTL 7200s (the registry's --max-cert-ttl)",
    )
    for leaf, ttl in ((default, 3600), (short, 600)):
        lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
        assert lifetime.total_seconds() == pytest.approx(ttl + 120, abs=2)
    with capped.http() as c:
        ca = c.get("/v1/ca/roots").json()
    assert (ca["defaultCertTTL"], ca["maxCertTTL"]) == (3600.0, 7200.0)


def test_the_sync_world_signs_through_the_background_watch(registry: Registry) -> None:
    client = RegistryClient(registry.url, registry.join_token("a"))
    watch = client.start_in_thread()
    try:
        watch.wait_first()
        signed = watch.sign(csr(), namespace="a", service_account="x", ttl=3600.0)
        assert watch.roots() == signed.root_pems
    finally:
        watch.stop()
    assert signed.identity == "spiffe://cluster.local/ns/a/sa/x"
    verify_to_root(signed)


def _fingerprint(pem: str) -> bytes:
    return x509.load_pem_x509_certificate(pem.encode()).fingerprint(hashes.SHA256())


async def test_the_root_persists_across_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = spawn_registry(data, "--trust-domain", "example.org")
    try:
        async with RegistryClient(first.url, first.admin) as client:
            before = await client.roots()
            signed = await client.sign(
                csr(trust_domain="example.org"), namespace="a", service_account="x"
            )
    finally:
        first.stop()
    assert signed.identity == "spiffe://example.org/ns/a/sa/x"
    assert stat.S_IMODE((data / "ca" / "ca-key.pem").stat().st_mode) == 0o600
    again = spawn_registry(data)
    try:
        async with RegistryClient(again.url, again.admin) as client:
            after = await client.roots()
    finally:
        again.stop()
    assert [_fingerprint(p) for p in after] == [_fingerprint(p) for p in before]


async def test_a_plugged_in_intermediate_signs(tmp_path: Path) -> None:
    root = CertificateAuthority.init_root(tmp_path / "root")
    _intermediate(tmp_path / "root", tmp_path / "plug")
    registry = spawn_registry(tmp_path / "data", "--ca-dir", str(tmp_path / "plug"))
    try:
        async with RegistryClient(registry.url, registry.admin) as client:
            signed = await client.sign(csr(), namespace="a", service_account="x")
        with registry.http() as c:
            described = c.get("/v1/ca/roots").json()
    finally:
        registry.stop()
    chain = verify_to_root(signed)
    assert len(chain) == 3  # leaf, the intermediate, the root
    assert chain[1].subject.rfc4514_string() == "CN=Intermediate"
    assert chain[2] == root.certificate
    assert [_fingerprint(p) for p in signed.root_pems] == [
        root.certificate.fingerprint(hashes.SHA256())
    ]
    assert described["signingCert"]["subject"] == "CN=Intermediate"
    assert described["signingCert"]["source"] == f"plug-in {tmp_path / 'plug'}"
    assert not (tmp_path / "data" / "ca").exists()  # no self-signed root was made
