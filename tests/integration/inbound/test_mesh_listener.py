"""A plain uvicorn command's setup (``--http inmesh.inbound:MeshProtocol``) following a Mesh
with its own certificate (``Mesh(ca=...)``)."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from inmesh import Mesh, MeshMiddleware, current_peer
from inmesh.inbound import MeshProtocol
from inmesh.security import CertificateAuthority, SpiffeId, WorkloadTLS
from tests.servers import RunningServer, start_server

FRONTEND = SpiffeId.of("shop", "frontend")
PAYMENTS = SpiffeId.of("shop", "payments")


def peer_authn(mode: str) -> dict[str, Any]:
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": {"name": "default", "namespace": "shop"},
        "spec": {"mtls": {"mode": mode}},
    }


async def whoami(scope: Any, receive: Any, send: Any) -> None:
    peer = current_peer()
    body = json.dumps({"peer": peer.principal if peer else None}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.init_root(tmp_path / "ca")


@pytest.fixture
def served(ca: CertificateAuthority, tmp_path: Path) -> Iterator[tuple[RunningServer, Mesh]]:
    mesh = Mesh(
        service="payments", namespace="shop", labels={"app": "payments"}, ca=tmp_path / "ca"
    )
    assert mesh.tls is not None and mesh.tls.current().identity == PAYMENTS
    server = start_server(MeshMiddleware(whoami, mesh=mesh), http=MeshProtocol)
    try:
        yield server, mesh
    finally:
        server.stop()


def test_mesh_apply_changes_the_mode_of_the_next_connection(
    ca: CertificateAuthority, served: tuple[RunningServer, Mesh]
) -> None:
    server, mesh = served
    key, issued = ca.issue(FRONTEND)
    ctx: ssl.SSLContext = WorkloadTLS.build(key, issued).client
    with httpx.Client(verify=ctx) as mutual, httpx.Client() as plain:
        assert plain.get(f"http://127.0.0.1:{server.port}/").json() == {"peer": None}
        mesh.apply([peer_authn("STRICT")])
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{server.port}/")
        url = f"https://127.0.0.1:{server.port}/"
        assert mutual.get(url).json() == {"peer": FRONTEND.principal}
        mesh.apply([peer_authn("PERMISSIVE")])
        assert httpx.get(f"http://127.0.0.1:{server.port}/").json() == {"peer": None}
