"""Certificate swap without dropping connections, and trust across a root rotation."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from inmesh.security import CertificateAuthority, TLSHolder, WorkloadTLS

from ._server import MeshServer
from .conftest import FRONT, PAYMENTS, Mesh

pytestmark = pytest.mark.integration


def _request(tls: ssl.SSLSocket) -> bytes:
    tls.sendall(b"GET / HTTP/1.1\r\nHost: payments\r\n\r\n")
    data = b""
    while not data.endswith(FRONT.uri.encode()):
        chunk = tls.recv(4096)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _serial(tls: ssl.SSLSocket) -> int:
    der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def test_new_connections_get_the_new_certificate_old_ones_keep_working(mesh: Mesh) -> None:
    first = mesh.workload(PAYMENTS)
    holder = TLSHolder(first)
    client = mesh.workload(FRONT).client
    with MeshServer(holder.server_front) as server:
        old = client.wrap_socket(socket.create_connection(("127.0.0.1", server.port)))
        serial_before = _serial(old)
        _request(old)
        key, issued = mesh.ca.issue(PAYMENTS)
        holder.swap(WorkloadTLS.build(key, issued))
        assert holder.generation == 1
        with client.wrap_socket(socket.create_connection(("127.0.0.1", server.port))) as new:
            assert _serial(new) == issued.serial != serial_before
            _request(new)
        assert _request(old).endswith(FRONT.uri.encode())  # the old connection lives on
        old.close()
        assert server.requests == 3


def test_a_swap_keeps_the_identity(mesh: Mesh) -> None:
    holder = TLSHolder(mesh.workload(PAYMENTS))
    with pytest.raises(ValueError, match="keeps the identity"):
        holder.swap(mesh.workload(FRONT))


def test_root_rotation_with_a_bundle_of_two_roots(tmp_path: Path, mesh: Mesh) -> None:
    new_ca = CertificateAuthority.init_root(tmp_path / "new-root")
    both = mesh.ca.trust_bundle.merged(new_ca.trust_bundle)
    key, issued = new_ca.issue(PAYMENTS)
    server_tls = WorkloadTLS.build(key, issued, bundle=both)  # moved to the new root
    ckey, cissued = mesh.ca.issue(FRONT)
    client_tls = WorkloadTLS.build(ckey, cissued, bundle=both)  # still on the old root
    with MeshServer(lambda: server_tls.server) as server:
        with client_tls.client.wrap_socket(
            socket.create_connection(("127.0.0.1", server.port))
        ) as tls:
            _request(tls)
        assert server.wait_events(1) == [("tls", FRONT.uri)]
    only_old = WorkloadTLS.build(ckey, cissued)  # trusts only the old root
    with (
        MeshServer(lambda: server_tls.server) as server,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        only_old.client.wrap_socket(socket.create_connection(("127.0.0.1", server.port)))
