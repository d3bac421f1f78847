"""The mesh listener and MeshMiddleware with real uvicorn servers and real handshakes."""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from inmesh import MeshMiddleware, current_peer
from inmesh.config import parse_documents
from inmesh.inbound import InboundPolicy, protocol_class
from inmesh.security import CertificateAuthority, SpiffeId, TLSHolder, WorkloadTLS
from tests.servers import RunningServer, start_server

FRONTEND = SpiffeId.of("shop", "frontend")
PAYMENTS = SpiffeId.of("shop", "payments")
OTHER = SpiffeId.of("shop", "other")


def _resources(text: str) -> list[Any]:
    return list(parse_documents(list(yaml.safe_load_all(text)), source="test.yaml"))


def peer_authn(mode: str) -> str:
    return f"""
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {{name: default, namespace: shop}}
spec: {{mtls: {{mode: {mode}}}}}
"""


ALLOW_FRONTEND = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: payments, namespace: shop}
spec:
  selector: {matchLabels: {app: payments}}
  action: ALLOW
  rules:
  - from:
    - source: {principals: ["cluster.local/ns/shop/sa/frontend"]}
"""


async def whoami(scope: Any, receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    peer = current_peer()
    tls = (scope.get("extensions") or {}).get("tls")
    body = json.dumps(
        {
            "peer": peer.principal if peer is not None else None,
            "scope_peer": scope["inmesh.peer"].principal if scope["inmesh.peer"] else None,
            "chain": len(tls["client_cert_chain"]) if tls else None,
            "tls_version": tls["tls_version"] if tls else None,
            "headers": sorted(k.decode() for k, _ in scope["headers"]),
            "xfcc": [v.decode() for k, v in scope["headers"] if k == b"x-forwarded-client-cert"],
        }
    ).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


class Setup:
    def __init__(self, base: Path) -> None:
        self.ca = CertificateAuthority.init_root(base / "ca")
        self.foreign = CertificateAuthority.init_root(base / "foreign")

    def tls(self, identity: SpiffeId, *, foreign: bool = False) -> WorkloadTLS:
        key, issued = (self.foreign if foreign else self.ca).issue(identity)
        return WorkloadTLS.build(key, issued)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    return Setup(tmp_path_factory.mktemp("inbound-ca"))


@pytest.fixture
def served(setup: Setup) -> Iterator[tuple[RunningServer, InboundPolicy]]:
    policy = InboundPolicy(namespace="shop", labels={"app": "payments"})
    holder = TLSHolder(setup.tls(PAYMENTS))
    app = MeshMiddleware(whoami, policy=policy)
    server = start_server(app, http=protocol_class(tls=holder, policy=policy))
    try:
        yield server, policy
    finally:
        server.stop()


def mtls_get(setup: Setup, port: int, identity: SpiffeId, **kw: Any) -> httpx.Response:
    ctx: ssl.SSLContext = setup.tls(identity, foreign=kw.pop("foreign", False)).client
    with httpx.Client(verify=ctx) as client:
        return client.get(f"https://127.0.0.1:{port}/pay?x=1", **kw)


def plain_get(port: int, **kw: Any) -> httpx.Response:
    with httpx.Client() as client:
        return client.get(f"http://127.0.0.1:{port}/pay", **kw)


def test_permissive_by_default_takes_plaintext_and_mtls(
    setup: Setup, served: tuple[RunningServer, InboundPolicy]
) -> None:
    server, _ = served
    plain = plain_get(server.port).json()
    assert plain["peer"] is None and plain["chain"] is None
    mutual = mtls_get(setup, server.port, FRONTEND).json()
    assert mutual["peer"] == FRONTEND.principal == mutual["scope_peer"]
    assert mutual["chain"] == 1 and mutual["tls_version"] in (0x0303, 0x0304)


def test_strict_refuses_plaintext_a_foreign_ca_and_no_certificate(
    setup: Setup, served: tuple[RunningServer, InboundPolicy]
) -> None:
    server, policy = served
    policy.update(_resources(peer_authn("STRICT")))
    with pytest.raises(httpx.TransportError):
        plain_get(server.port)
    with pytest.raises((httpx.TransportError, ssl.SSLError)):
        mtls_get(setup, server.port, FRONTEND, foreign=True)
    no_cert = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    no_cert.check_hostname = False
    no_cert.load_verify_locations(cadata=setup.tls(FRONTEND).bundle.pem().decode())
    with pytest.raises(httpx.TransportError), httpx.Client(verify=no_cert) as client:
        client.get(f"https://127.0.0.1:{server.port}/pay")
    assert mtls_get(setup, server.port, FRONTEND).json()["peer"] == FRONTEND.principal


def test_disable_refuses_tls(setup: Setup, served: tuple[RunningServer, InboundPolicy]) -> None:
    server, policy = served
    policy.update(_resources(peer_authn("DISABLE")))
    with pytest.raises(httpx.TransportError):
        mtls_get(setup, server.port, FRONTEND)
    assert plain_get(server.port).status_code == 200


def test_peer_authentication_change_applies_to_the_next_connection(
    setup: Setup, served: tuple[RunningServer, InboundPolicy]
) -> None:
    server, policy = served
    assert plain_get(server.port).status_code == 200
    policy.update(_resources(peer_authn("STRICT")))
    with pytest.raises(httpx.TransportError):
        plain_get(server.port)
    policy.update(_resources(peer_authn("PERMISSIVE")))
    assert plain_get(server.port).status_code == 200


def test_spoofed_identity_headers_change_nothing(
    setup: Setup, served: tuple[RunningServer, InboundPolicy]
) -> None:
    server, policy = served
    policy.update(_resources(ALLOW_FRONTEND))
    spoof = {
        "x-forwarded-client-cert": f"By=x;URI={FRONTEND.uri}",
        "x-inmesh-peer": FRONTEND.principal,
    }
    plain = plain_get(server.port, headers=spoof)
    assert plain.status_code == 403 and plain.text == "RBAC: access denied"
    policy.update([])
    seen = mtls_get(setup, server.port, OTHER, headers=spoof).json()
    assert seen["peer"] == OTHER.principal
    assert "x-inmesh-peer" not in seen["headers"]
    # Istio's APPEND_FORWARD on mutual TLS: what the client sent, then this hop's element
    # from the verified certificates (the server's URI SAN as By, the client's as URI).
    [xfcc] = seen["xfcc"]
    forwarded, own = xfcc.rsplit(",", 1)
    assert forwarded == spoof["x-forwarded-client-cert"]
    by, digest, subject, uri = own.split(";")
    assert (by, subject, uri) == (f"By={PAYMENTS.uri}", 'Subject=""', f"URI={OTHER.uri}")
    assert re.fullmatch(r"Hash=[0-9a-f]{64}", digest)
    # Without mutual TLS the header is removed (Envoy sanitizes it).
    assert "x-forwarded-client-cert" not in plain_get(server.port, headers=spoof).json()["headers"]


def test_allow_policy_lets_frontend_in_and_keeps_others_out(
    setup: Setup, served: tuple[RunningServer, InboundPolicy]
) -> None:
    server, policy = served
    policy.update(_resources(ALLOW_FRONTEND))
    assert mtls_get(setup, server.port, FRONTEND).status_code == 200
    denied = mtls_get(setup, server.port, OTHER)
    assert (denied.status_code, denied.text) == (403, "RBAC: access denied")
    assert plain_get(server.port).status_code == 403


ALLOW_SNI = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: by-sni, namespace: shop}
spec:
  action: ALLOW
  rules:
  - when: [{key: connection.sni, values: ["payments.shop.svc.cluster.local"]}]
"""


def test_the_server_name_the_client_asked_for_is_connection_sni(
    setup: Setup, served: tuple[RunningServer, InboundPolicy]
) -> None:
    server, policy = served
    policy.update(_resources(ALLOW_SNI))
    sni = {"sni_hostname": "payments.shop.svc.cluster.local"}
    assert mtls_get(setup, server.port, FRONTEND, extensions=sni).status_code == 200
    other = {"sni_hostname": "reviews.shop.svc.cluster.local"}
    assert mtls_get(setup, server.port, FRONTEND, extensions=other).status_code == 403
