"""The workload certificate: issued at start, renewed before expiry, swapped in place."""

from __future__ import annotations

import threading
from pathlib import Path

import inmesh
from inmesh._identity import WorkloadIdentity, local_issuer
from inmesh.security import CertificateAuthority, IssuedCertificate, SpiffeId


def test_mesh_with_a_ca_dir_has_its_identity(tmp_path: Path) -> None:
    CertificateAuthority.init_root(tmp_path / "ca")
    mesh = inmesh.Mesh(service="reviews", namespace="shop", ca=tmp_path / "ca")
    assert str(mesh.spiffe_id) == "spiffe://cluster.local/ns/shop/sa/reviews"
    assert mesh.tls is not None and mesh.tls.current().identity == mesh.spiffe_id
    other = inmesh.Mesh(service="reviews", service_account="bookinfo-reviews", ca=tmp_path / "ca")
    assert other.tls is not None
    assert str(other.tls.current().identity).endswith("/sa/bookinfo-reviews")
    assert inmesh.Mesh(service="x").tls is None
    mesh.close()
    other.close()


def test_renewal_swaps_the_certificate_and_a_failure_keeps_the_current_one(
    tmp_path: Path,
) -> None:
    ca = CertificateAuthority.init_root(tmp_path / "ca")
    spiffe = SpiffeId.of("shop", "reviews")
    issued: list[IssuedCertificate] = []
    calls = [0]
    generations: list[int] = []
    renewed = threading.Event()

    def issuer(csr: bytes) -> IssuedCertificate:
        calls[0] += 1
        if identity.holder is not None:  # set before the renewal thread starts
            generations.append(identity.holder.generation)
        if calls[0] == 2:  # the first renewal fails: the current certificate stays
            raise RuntimeError("CA unreachable")
        cert = ca.sign(csr, identity=spiffe, ttl=240.0)  # not_before is backdated 2 min
        issued.append(cert)
        if len(issued) >= 3:
            renewed.set()
        return cert

    # a clock far in the future: every renewal is due at once
    identity = WorkloadIdentity(spiffe, issuer, clock=lambda: 4e9)
    holder = identity.start()
    assert renewed.wait(10)
    identity.stop()
    # the renewal after the failure still found the first certificate in place (generation
    # 0), and a later one had been swapped in
    assert generations[:2] == [0, 0]
    assert holder.generation >= 1
    assert holder.current().identity == spiffe


def test_local_issuer_signs_for_the_identity(tmp_path: Path) -> None:
    CertificateAuthority.init_root(tmp_path / "ca")
    spiffe = SpiffeId.of("shop", "ratings")
    from inmesh.security import generate_key, make_csr

    cert = local_issuer(str(tmp_path / "ca"), spiffe)(make_csr(generate_key(), spiffe))
    assert cert.identity == spiffe
