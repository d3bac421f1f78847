"""The application's own https requests through the mesh (PassthroughCluster): httpx's
default TLS settings (verification against ``SSL_CERT_FILE`` here), made on the first such
request rather than with the client, after plain-HTTP requests on the same client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import inmesh
from tests.certs import ServerCert, make_server_cert
from tests.servers import RunningServer, echo_app, start_server


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, RunningServer, ServerCert]]:
    certs = make_server_cert(tmp_path_factory.mktemp("certs"), "localhost")
    plain = start_server(echo_app("plain", "v1"))
    secure = start_server(
        echo_app("secure", "v1"), ssl_certfile=str(certs.cert_file), ssl_keyfile=str(certs.key_file)
    )
    yield plain, secure, certs
    plain.stop()
    secure.stop()


def test_https_after_plain_requests_verifies_with_httpx_defaults(
    servers: tuple[RunningServer, RunningServer, ServerCert], monkeypatch: pytest.MonkeyPatch
) -> None:
    plain, secure, certs = servers
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.ca_file))  # read by httpx's trust_env
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    mesh = inmesh.Mesh(service="app")
    with mesh, mesh.sync_client() as client:
        assert client.get(f"http://127.0.0.1:{plain.port}/").json()["service"] == "plain"
        r = client.get(f"https://localhost:{secure.port}/hello")
        assert r.status_code == 200 and r.json()["service"] == "secure"
        assert client.get(f"http://127.0.0.1:{plain.port}/").json()["service"] == "plain"


def test_a_server_the_default_settings_do_not_trust_fails_its_handshake(
    servers: tuple[RunningServer, RunningServer, ServerCert],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    plain, secure, _ = servers
    other = make_server_cert(tmp_path, "localhost")  # another CA entirely
    monkeypatch.setenv("SSL_CERT_FILE", str(other.ca_file))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    mesh = inmesh.Mesh(service="app")
    with mesh, mesh.sync_client() as client:
        assert client.get(f"http://127.0.0.1:{plain.port}/").status_code == 200
        r = client.get(f"https://localhost:{secure.port}/")
    assert r.status_code == 503
    assert "TLS error: certificate verify failed" in r.text
