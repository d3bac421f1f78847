"""Outbound mesh mTLS with real handshakes: ISTIO_MUTUAL and auto mTLS from a Mesh with a
workload certificate (``Mesh(ca=DIR)``), against mTLS servers that read the client's
identity from its verified certificate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import inmesh
from inmesh.security import CertificateAuthority, SpiffeId, WorkloadTLS
from tests.integration.security._server import MeshServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def ca_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("outbound-mtls")
    CertificateAuthority.init_root(base / "ca")
    CertificateAuthority.init_root(base / "foreign")
    return base / "ca", base / "foreign"


def server_tls(ca_dir: Path, identity: SpiffeId) -> WorkloadTLS:
    key, issued = CertificateAuthority.load(ca_dir).issue(identity)
    return WorkloadTLS.build(key, issued)


@pytest.fixture
def backend(ca_dirs: tuple[Path, Path]) -> Iterator[MeshServer]:
    tls = server_tls(ca_dirs[0], SpiffeId.of("default", "backend"))
    with MeshServer(context=lambda: tls.server, mode="PERMISSIVE") as server:
        yield server


def config(
    port: int, *, tls_mode: str | None, service_account: str = "backend", label: bool = False
) -> list[dict[str, object]]:
    labels = {"app": "backend"}
    if label:
        labels["security.istio.io/tlsMode"] = "istio"
    docs: list[dict[str, object]] = [
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "ServiceEntry",
            "metadata": {"name": "backend"},
            "spec": {
                "hosts": ["backend.default.svc.cluster.local"],
                "location": "MESH_INTERNAL",
                "resolution": "STATIC",
                "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
                "workloadSelector": {"labels": {"app": "backend"}},
            },
        },
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "WorkloadEntry",
            "metadata": {"name": "backend-1"},
            "spec": {
                "address": "127.0.0.1",
                "ports": {"http": port},
                "labels": labels,
                "serviceAccount": service_account,
            },
        },
    ]
    if tls_mode is not None:
        docs.append(
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "DestinationRule",
                "metadata": {"name": "backend"},
                "spec": {"host": "backend", "trafficPolicy": {"tls": {"mode": tls_mode}}},
            }
        )
    return docs


def frontend(
    ca_dir: Path | None, docs: list[dict[str, object]]
) -> tuple[inmesh.Mesh, list[inmesh.RequestRecord]]:
    mesh = inmesh.Mesh(service="frontend", config=docs, ca=ca_dir)
    records: list[inmesh.RequestRecord] = []
    mesh.add_hook(records.append)
    return mesh, records


async def test_istio_mutual_presents_the_workload_certificate(
    ca_dirs: tuple[Path, Path], backend: MeshServer
) -> None:
    mesh, _ = frontend(ca_dirs[0], config(backend.port, tls_mode="ISTIO_MUTUAL"))
    assert str(mesh.spiffe_id) == "spiffe://cluster.local/ns/default/sa/frontend"
    async with mesh.client() as client:
        r = await client.get("http://backend/")
    with mesh.sync_client() as sync:
        rs = sync.get("http://backend/")
    # the server read the client's identity from its verified certificate
    assert (r.status_code, r.text) == (200, "spiffe://cluster.local/ns/default/sa/frontend")
    assert (rs.status_code, rs.text) == (200, r.text)
    assert [e[0] for e in backend.events] == ["tls", "tls"]


async def test_a_server_with_another_identity_is_refused_before_any_request(
    ca_dirs: tuple[Path, Path], backend: MeshServer
) -> None:
    # the WorkloadEntry says the workload runs as `payments`; the server proves `backend`
    mesh, records = frontend(
        ca_dirs[0], config(backend.port, tls_mode="ISTIO_MUTUAL", service_account="payments")
    )
    async with mesh.client() as client:
        r = await client.get("http://backend/")
    assert r.status_code == 503 and r.headers[inmesh.FLAGS_HEADER].startswith("UF")
    assert backend.requests == 0  # no request byte went to the wrong identity
    assert "spiffe://cluster.local/ns/default/sa/payments" in records[0].error
    assert records[0].error.startswith(f"endpoint 127.0.0.1:{backend.port}:")


async def test_a_server_of_a_foreign_ca_fails_the_handshake(ca_dirs: tuple[Path, Path]) -> None:
    tls = server_tls(ca_dirs[1], SpiffeId.of("default", "backend"))
    with MeshServer(context=lambda: tls.server, mode="STRICT") as foreign:
        mesh, records = frontend(ca_dirs[0], config(foreign.port, tls_mode="ISTIO_MUTUAL"))
        with mesh.sync_client() as client:
            r = client.get("http://backend/")
    assert r.status_code == 503 and r.headers[inmesh.FLAGS_HEADER] == "UF,URX"
    assert "TLS error" in records[0].error and foreign.requests == 0


async def test_auto_mtls_follows_the_endpoint_label(
    ca_dirs: tuple[Path, Path], backend: MeshServer
) -> None:
    labelled, _ = frontend(ca_dirs[0], config(backend.port, tls_mode=None, label=True))
    plain, _ = frontend(ca_dirs[0], config(backend.port, tls_mode=None, label=False))
    no_identity, _ = frontend(None, config(backend.port, tls_mode=None, label=True))
    async with labelled.client() as a, plain.client() as b, no_identity.client() as c:
        assert (await a.get("http://backend/")).text.endswith("/sa/frontend")
        assert (await b.get("http://backend/")).text == "-"  # plaintext to an unlabelled one
        assert (await c.get("http://backend/")).text == "-"  # no certificate: plaintext
    assert [e[0] for e in backend.events] == ["tls", "plaintext", "plaintext"]


async def test_disable_turns_auto_mtls_off(ca_dirs: tuple[Path, Path], backend: MeshServer) -> None:
    mesh, _ = frontend(ca_dirs[0], config(backend.port, tls_mode="DISABLE", label=True))
    async with mesh.client() as client:
        assert (await client.get("http://backend/")).text == "-"


async def test_istio_mutual_without_a_certificate_says_so(backend: MeshServer) -> None:
    mesh, records = frontend(None, config(backend.port, tls_mode="ISTIO_MUTUAL"))
    async with mesh.client() as client:
        r = await client.get("http://backend/")
    assert r.status_code == 503 and r.headers[inmesh.FLAGS_HEADER] == "UF"
    assert "ISTIO_MUTUAL needs a workload certificate" in records[0].error
    assert backend.events == []


async def test_a_rotated_certificate_is_used_by_new_connections(
    ca_dirs: tuple[Path, Path], backend: MeshServer
) -> None:
    mesh, _ = frontend(ca_dirs[0], config(backend.port, tls_mode="ISTIO_MUTUAL"))
    holder = mesh.tls
    assert holder is not None
    first = holder.current()
    async with mesh.client() as client:
        assert (await client.get("http://backend/")).status_code == 200
        key, issued = CertificateAuthority.load(ca_dirs[0]).issue(mesh.spiffe_id)
        holder.swap(WorkloadTLS.build(key, issued))  # what the rotation thread does
        assert (await client.get("http://backend/")).status_code == 200
    assert holder.current() is not first and holder.generation == 1
    # the second request opened a new connection with the new certificate
    assert [e[0] for e in backend.events] == ["tls", "tls"]
