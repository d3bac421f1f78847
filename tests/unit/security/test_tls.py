"""The mesh SSL contexts, handshaking in memory (ssl.MemoryBIO), and how the key is loaded."""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path

import pytest

from inmesh.security import (
    CertificateAuthority,
    PeerIdentityError,
    SpiffeId,
    WorkloadTLS,
    peer_identity,
    verify_peer,
)

FRONT = SpiffeId.of("shop", "front")
PAYMENTS = SpiffeId.of("shop", "payments")


def handshake(
    client_ctx: ssl.SSLContext, server_ctx: ssl.SSLContext
) -> tuple[ssl.SSLObject, ssl.SSLObject]:
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_side=False, server_hostname="payments")
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {"c": False, "s": False}
    for _ in range(10):
        for name, obj, out, peer_in in (("c", client, c_out, s_in), ("s", server, s_out, c_in)):
            if not done[name]:
                try:
                    obj.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
            data = out.read()
            if data:
                peer_in.write(data)
        if all(done.values()):
            return client, server
    raise AssertionError("handshake did not finish")


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority.init_root(tmp_path_factory.mktemp("tls") / "ca")


def workload(ca: CertificateAuthority, identity: SpiffeId) -> WorkloadTLS:
    key, issued = ca.issue(identity)
    return WorkloadTLS.build(key, issued)


def test_contexts_settings(ca: CertificateAuthority) -> None:
    w = workload(ca, FRONT)
    assert w.client.check_hostname is False
    assert w.client.verify_mode == ssl.CERT_REQUIRED
    assert w.server.verify_mode == ssl.CERT_REQUIRED
    assert w.client.minimum_version == ssl.TLSVersion.TLSv1_2
    assert w.identity == FRONT


def test_in_memory_mutual_handshake(ca: CertificateAuthority) -> None:
    client, server = handshake(workload(ca, FRONT).client, workload(ca, PAYMENTS).server)
    assert verify_peer(client, {PAYMENTS}) == PAYMENTS
    assert peer_identity(server.getpeercert(binary_form=True)) == FRONT
    with pytest.raises(PeerIdentityError, match="expected"):
        verify_peer(client, {FRONT})
    assert verify_peer(client, ()) == PAYMENTS  # empty: any mesh identity


def test_key_loaded_without_memfd_leaves_no_file(
    ca: CertificateAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []
    real = tempfile.mkdtemp

    def recording_mkdtemp(*args: object, **kwargs: object) -> str:
        path = real(*args, **kwargs)  # type: ignore[call-overload]
        made.append(path)
        return str(path)

    monkeypatch.delattr(os, "memfd_create", raising=False)
    monkeypatch.setattr(tempfile, "mkdtemp", recording_mkdtemp)
    w = workload(ca, PAYMENTS)
    assert made and not any(Path(p).exists() for p in made)
    client, _ = handshake(workload(ca, FRONT).client, w.server)
    assert verify_peer(client, {PAYMENTS}) == PAYMENTS


def test_optional_client_certificate(ca: CertificateAuthority) -> None:
    from inmesh.security import server_context

    key, issued = ca.issue(PAYMENTS)
    optional = server_context(
        chain_pem=issued.chain_pem, key=key, bundle=ca.trust_bundle, require_client_cert=False
    )
    assert optional.verify_mode == ssl.CERT_OPTIONAL
