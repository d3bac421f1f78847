"""TLS origination (DestinationRule tls SIMPLE) with Istio's egress sample shape: the
application sends plain HTTP to port 80, the VirtualService moves it to port 443, and the
mesh originates TLS, verifying the server against the configured CA for the SNI host."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import inmesh
from tests.certs import ServerCert, make_server_cert
from tests.servers import RunningServer, echo_app, start_server

pytestmark = pytest.mark.anyio
HOST = "secure.example.test"


@pytest.fixture(scope="module")
def tls_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, ServerCert]]:
    certs = make_server_cert(tmp_path_factory.mktemp("certs"), HOST)
    server = start_server(
        echo_app("secure", "v1"), ssl_certfile=str(certs.cert_file), ssl_keyfile=str(certs.key_file)
    )
    yield server, certs
    server.stop()


def egress_config(port: int, ca: Path | None, sni: str | None = None) -> str:
    tls = "        mode: SIMPLE\n"
    if ca is not None:
        tls += f"        caCertificates: {ca}\n"
    if sni is not None:
        tls += f"        sni: {sni}\n"
    return f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: secure
spec:
  hosts: [{HOST}]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
  - {{number: 80, name: http, protocol: HTTP}}
  - {{number: 443, name: https, protocol: HTTPS}}
  endpoints:
  - address: 127.0.0.1
    ports: {{http: 1, https: {port}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: rewrite-port
spec:
  hosts: [{HOST}]
  http:
  - match:
    - port: 80
    route:
    - destination:
        host: {HOST}
        port:
          number: 443
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: originate-tls
spec:
  host: {HOST}
  trafficPolicy:
    portLevelSettings:
    - port:
        number: 443
      tls:
{tls}"""


async def test_simple_tls_origination(
    tls_server: tuple[RunningServer, ServerCert], tmp_path: Path
) -> None:
    server, certs = tls_server
    cfg = tmp_path / "egress.yaml"
    cfg.write_text(egress_config(server.port, certs.ca_file))
    async with inmesh.Mesh(service="app", config=cfg) as mesh, mesh.client() as c:
        r = await c.get(f"http://{HOST}/hello")
        assert r.status_code == 200
        assert r.json()["path"] == "/hello" and r.json()["service"] == "secure"


async def test_tls_origination_verifies_the_server(
    tls_server: tuple[RunningServer, ServerCert], tmp_path: Path
) -> None:
    server, certs = tls_server
    cfg = tmp_path / "egress.yaml"
    cfg.write_text(egress_config(server.port, certs.ca_file, sni="other.example.test"))
    async with inmesh.Mesh(service="app", config=cfg) as mesh, mesh.client() as c:
        r = await c.get(f"http://{HOST}/hello")
        # the certificate does not name the SNI host: the handshake fails, as in Envoy
        assert r.status_code == 503
        assert r.headers[inmesh.FLAGS_HEADER] == "UF,URX"  # a connect failure: retried


async def test_a_changed_tls_setting_applies_to_a_live_client(
    tls_server: tuple[RunningServer, ServerCert], tmp_path: Path
) -> None:
    server, certs = tls_server
    wrong = make_server_cert(tmp_path, "other.example.test")  # another CA entirely
    cfg = tmp_path / "egress.yaml"
    cfg.write_text(egress_config(server.port, wrong.ca_file))
    async with inmesh.Mesh(service="app", config=cfg) as mesh, mesh.client() as c:
        assert (await c.get(f"http://{HOST}/")).status_code == 503  # not trusted
        cfg.write_text(egress_config(server.port, certs.ca_file))
        mesh.apply_file(cfg)  # rotate the CA: the same client uses it at once
        assert (await c.get(f"http://{HOST}/")).status_code == 200


async def test_a_tls_failure_says_why_in_the_body_and_the_record(
    tls_server: tuple[RunningServer, ServerCert], tmp_path: Path
) -> None:
    server, _ = tls_server
    wrong = make_server_cert(tmp_path, "other.example.test")  # another CA entirely
    cfg = tmp_path / "egress.yaml"
    cfg.write_text(egress_config(server.port, wrong.ca_file))
    records: list[inmesh.RequestRecord] = []
    mesh = inmesh.Mesh(service="app", config=cfg)
    mesh.add_hook(records.append)
    async with mesh, mesh.client() as c:
        r = await c.get(f"http://{HOST}/")
    with mesh.sync_client() as sc:
        rs = sc.get(f"http://{HOST}/")
    for response, record in ((r, records[0]), (rs, records[1])):
        assert response.status_code == 503
        assert "transport failure reason: endpoint 127.0.0.1:" in response.text
        assert "TLS error: certificate verify failed" in response.text
        assert record.details == "upstream_reset_before_response_started{connection_failure}"
        assert record.error.startswith(f"endpoint 127.0.0.1:{server.port}: TLS error")
