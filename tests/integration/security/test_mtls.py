"""Real mTLS handshakes on 127.0.0.1: identities, foreign CAs, wrong identities, PERMISSIVE."""

from __future__ import annotations

import socket
import ssl

import httpcore
import pytest

from inmesh.security import (
    AsyncSpiffeBackend,
    PeerIdentityError,
    SpiffeBackend,
    SpiffeId,
    verify_peer,
)

from ._server import MeshServer
from .conftest import FRONT, PAYMENTS, Mesh

pytestmark = pytest.mark.integration


def raw_get(ctx: ssl.SSLContext, port: int) -> tuple[SpiffeId, bytes]:
    """Handshake with ``ctx``, verify the server is PAYMENTS, send one request, read the body."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
        ctx.wrap_socket(sock, server_hostname="payments.shop") as tls,
    ):
        server = verify_peer(tls, {PAYMENTS})
        tls.sendall(b"GET / HTTP/1.1\r\nHost: payments\r\n\r\n")
        data = b""
        while True:
            chunk = tls.recv(4096)
            if not chunk:
                raise ConnectionError(f"closed after {data!r}")
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                if len(body) >= length:
                    return server, body


def test_mutual_handshake_reads_identities_on_both_sides(mesh: Mesh) -> None:
    server_tls = mesh.workload(PAYMENTS)
    client_tls = mesh.workload(FRONT)
    with MeshServer(lambda: server_tls.server) as server:
        who, body = raw_get(client_tls.client, server.port)
    assert who == PAYMENTS
    assert body == FRONT.uri.encode()
    assert server.wait_events(1) == [("tls", FRONT.uri)]


def test_client_rejects_a_server_from_a_foreign_ca(mesh: Mesh) -> None:
    impostor = mesh.workload(PAYMENTS, foreign=True)
    client_tls = mesh.workload(FRONT)
    with MeshServer(lambda: impostor.server) as server:
        with pytest.raises(ssl.SSLCertVerificationError):
            raw_get(client_tls.client, server.port)
        assert server.requests == 0


def test_strict_server_rejects_a_client_from_a_foreign_ca(mesh: Mesh) -> None:
    server_tls = mesh.workload(PAYMENTS)
    intruder = mesh.workload(FRONT, foreign=True)
    with MeshServer(lambda: server_tls.server) as server:
        # Under TLS 1.3 the client finishes its side first; the rejection arrives as an
        # alert or a closed connection on the first read.
        with pytest.raises((ssl.SSLError, ConnectionError)):
            raw_get(intruder.client, server.port)
        assert server.wait_events(1)[0][0] == "handshake-failed"
        assert server.requests == 0


def test_strict_server_rejects_a_client_without_certificate(mesh: Mesh) -> None:
    server_tls = mesh.workload(PAYMENTS)
    anonymous = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    anonymous.check_hostname = False
    anonymous.load_verify_locations(cadata=server_tls.bundle.pem().decode())
    with MeshServer(lambda: server_tls.server) as server:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            raw_get(anonymous, server.port)
        assert server.wait_events(1)[0][0] == "handshake-failed"
        assert server.requests == 0


def test_strict_server_closes_plaintext(mesh: Mesh) -> None:
    server_tls = mesh.workload(PAYMENTS)
    with MeshServer(lambda: server_tls.server) as server:
        with pytest.raises((httpcore.RemoteProtocolError, httpcore.ReadError)):
            httpcore.request("GET", f"http://127.0.0.1:{server.port}/")
        assert server.wait_events(1) == [("refused-plaintext", "-")]


def test_wrong_spiffe_identity_is_a_connect_error_and_no_request_is_sent(mesh: Mesh) -> None:
    server_tls = mesh.workload(SpiffeId.of("shop", "not-payments"))
    client_tls = mesh.workload(FRONT)
    with MeshServer(lambda: server_tls.server) as server:
        with (
            httpcore.ConnectionPool(
                ssl_context=client_tls.client, network_backend=SpiffeBackend({PAYMENTS})
            ) as pool,
            pytest.raises(
                httpcore.ConnectError, match=r"expected spiffe://cluster\.local/ns/shop/sa/payments"
            ),
        ):
            pool.request("GET", f"https://127.0.0.1:{server.port}/")
        assert server.requests == 0
        with pytest.raises(PeerIdentityError):
            raw_get(client_tls.client, server.port)


def test_right_identity_through_httpcore_sync_and_async(mesh: Mesh) -> None:
    server_tls = mesh.workload(PAYMENTS)
    client_tls = mesh.workload(FRONT)
    with MeshServer(lambda: server_tls.server) as server:
        url = f"https://127.0.0.1:{server.port}/"
        with httpcore.ConnectionPool(
            ssl_context=client_tls.client, network_backend=SpiffeBackend({PAYMENTS})
        ) as pool:
            assert pool.request("GET", url).content == FRONT.uri.encode()
            assert pool.request("GET", url).content == FRONT.uri.encode()

        import anyio

        async def go() -> bytes:
            async with httpcore.AsyncConnectionPool(
                ssl_context=client_tls.client, network_backend=AsyncSpiffeBackend({PAYMENTS})
            ) as apool:
                return (await apool.request("GET", url)).content

        assert anyio.run(go) == FRONT.uri.encode()
        assert [e[0] for e in server.wait_events(2)] == ["tls", "tls"]  # one per pool
        assert server.requests == 3


def test_permissive_takes_plaintext_and_mtls_on_one_port(mesh: Mesh) -> None:
    server_tls = mesh.workload(PAYMENTS)
    client_tls = mesh.workload(FRONT)
    with MeshServer(lambda: server_tls.server, mode="PERMISSIVE") as server:
        plain = httpcore.request("GET", f"http://127.0.0.1:{server.port}/")
        assert plain.content == b"-"
        who, body = raw_get(client_tls.client, server.port)
        assert (who, body) == (PAYMENTS, FRONT.uri.encode())
    assert server.wait_events(2) == [("plaintext", "-"), ("tls", FRONT.uri)]
