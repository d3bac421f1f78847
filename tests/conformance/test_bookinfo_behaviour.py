"""Istio's Bookinfo configuration behaves as Istio's Bookinfo tasks describe, against real
services: the Kubernetes Services of platform-kube-bookinfo.yaml, one uvicorn server per
workload (registered as WorkloadEntries with the Deployments' labels), and each
networking file applied unchanged."""

from __future__ import annotations

import math
import ssl
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import inmesh
from inmesh.config import Resource, load_config, parse_documents
from inmesh.routing import Forward
from inmesh.routing._snapshot import ClientIdentity, Snapshot
from tests.servers import RunningServer, echo_app, start_server

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "istio-bookinfo"
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not CORPUS.is_dir(), reason=f"conformance corpus not found at {CORPUS}"),
]

WORKLOADS = [
    ("productpage", "v1"),
    ("details", "v1"),
    ("details", "v2"),
    ("reviews", "v1"),
    ("reviews", "v2"),
    ("reviews", "v3"),
    ("ratings", "v1"),
    ("ratings", "v2"),
    ("ratings", "v2-mysql"),
    ("ratings", "v2-mysql-vm"),
]


@pytest.fixture(scope="module")
def workloads() -> Iterator[list[Resource]]:
    servers: list[RunningServer] = []
    docs = []
    for app, version in WORKLOADS:
        s = start_server(echo_app(app, version))
        servers.append(s)
        docs.append(
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "WorkloadEntry",
                "metadata": {"name": f"{app}-{version}", "namespace": "default"},
                "spec": {
                    "address": "127.0.0.1",
                    "ports": {"http": s.port},
                    "labels": {"app": app, "version": version},
                    "serviceAccount": f"bookinfo-{app}",
                },
            }
        )
    yield [
        *load_config(CORPUS / "platform-kube-bookinfo.yaml"),
        *parse_documents(docs, source="<bookinfo workloads>"),
    ]
    for s in servers:
        s.stop()


def mesh(workloads: list[Resource], *files: str) -> inmesh.Mesh:
    config = [*workloads, *load_config(*(CORPUS / f for f in files))]
    return inmesh.Mesh(
        service="productpage", labels={"app": "productpage", "version": "v1"}, config=config
    )


async def versions(m: inmesh.Mesh, url: str, n: int, **headers: str) -> Counter[str]:
    async with m.client() as c:
        out: Counter[str] = Counter()
        for _ in range(n):
            r = await c.get(url, headers=headers)
            assert r.status_code == 200, r.text
            out[r.json()["version"]] += 1
    return out


def near(count: int, n: int, p: float) -> bool:
    return abs(count - n * p) <= 5 * math.sqrt(n * p * (1 - p))


async def test_all_v1(workloads: list[Resource]) -> None:
    m = mesh(workloads, "destination-rule-all.yaml", "virtual-service-all-v1.yaml")
    assert await versions(m, "http://reviews:9080/reviews/0", 30) == {"v1": 30}
    assert await versions(m, "http://ratings:9080/ratings/0", 10) == {"v1": 10}
    assert await versions(m, "http://details:9080/details/0", 10) == {"v1": 10}


async def test_no_virtual_service_reaches_every_version(workloads: list[Resource]) -> None:
    got = await versions(mesh(workloads), "http://reviews:9080/", 300)
    assert set(got) == {"v1", "v2", "v3"}


@pytest.mark.parametrize(
    ("file", "shares"),
    [
        ("virtual-service-reviews-90-10.yaml", {"v1": 0.9, "v2": 0.1}),
        ("virtual-service-reviews-80-20.yaml", {"v1": 0.8, "v2": 0.2}),
        ("virtual-service-reviews-50-v3.yaml", {"v1": 0.5, "v3": 0.5}),
        ("virtual-service-reviews-v2-v3.yaml", {"v2": 0.5, "v3": 0.5}),
        ("virtual-service-reviews-v3.yaml", {"v3": 1.0}),
    ],
)
async def test_weighted_shifts(
    workloads: list[Resource], file: str, shares: dict[str, float]
) -> None:
    n = 600
    got = await versions(
        mesh(workloads, "destination-rule-all.yaml", file), "http://reviews:9080/", n
    )
    assert set(got) == set(shares)
    for version, p in shares.items():
        if p < 1:
            assert near(got[version], n, p), (version, got)


async def test_jason_routing(workloads: list[Resource]) -> None:
    m = mesh(workloads, "destination-rule-all.yaml", "virtual-service-reviews-jason-v2-v3.yaml")
    assert await versions(m, "http://reviews:9080/", 20, **{"end-user": "jason"}) == {"v2": 20}
    assert await versions(m, "http://reviews:9080/", 20, **{"end-user": "ann"}) == {"v3": 20}
    m = mesh(workloads, "destination-rule-all.yaml", "virtual-service-reviews-test-v2.yaml")
    assert await versions(m, "http://reviews:9080/", 20, **{"end-user": "jason"}) == {"v2": 20}
    assert await versions(m, "http://reviews:9080/", 20) == {"v1": 20}


@pytest.mark.parametrize(
    ("file", "version"),
    [
        ("virtual-service-ratings-db.yaml", "v2"),
        ("virtual-service-ratings-mysql.yaml", "v2-mysql"),
        ("virtual-service-ratings-mysql-vm.yaml", "v2-mysql-vm"),
    ],
)
async def test_ratings_backends(workloads: list[Resource], file: str, version: str) -> None:
    m = mesh(workloads, "destination-rule-all.yaml", file)
    assert await versions(m, "http://ratings:9080/ratings/0", 10) == {version: 10}


async def test_details_v2(workloads: list[Resource]) -> None:
    m = mesh(workloads, "destination-rule-all.yaml", "virtual-service-details-v2.yaml")
    assert await versions(m, "http://details:9080/details/0", 10) == {"v2": 10}


async def test_abort_for_jason(workloads: list[Resource]) -> None:
    m = mesh(
        workloads,
        "destination-rule-all.yaml",
        "virtual-service-all-v1.yaml",
        "virtual-service-ratings-test-abort.yaml",
    )
    async with m.client() as c:
        r = await c.get("http://ratings:9080/ratings/0", headers={"end-user": "jason"})
        assert (r.status_code, r.headers[inmesh.FLAGS_HEADER]) == (500, "FI")
        assert r.text == "fault filter abort"
        r = await c.get("http://ratings:9080/ratings/0", headers={"end-user": "bob"})
        assert r.status_code == 200 and r.json()["version"] == "v1"


async def test_details_abort_555(workloads: list[Resource]) -> None:
    m = mesh(workloads, "destination-rule-all.yaml", "fault-injection-details-v1.yaml")
    async with m.client() as c:
        for _ in range(10):
            r = await c.get("http://details:9080/details/0")
            assert (r.status_code, r.headers[inmesh.FLAGS_HEADER]) == (555, "FI")


async def test_delay_for_jason_outlasts_the_callers_timeout(workloads: list[Resource]) -> None:
    """Istio's "fault injection" task: ratings is delayed 7 s for jason; a caller whose own
    timeout is shorter (Bookinfo's productpage waits less) sees its timeout fire, everyone
    else is answered at once."""
    m = mesh(
        workloads,
        "destination-rule-all.yaml",
        "virtual-service-all-v1.yaml",
        "virtual-service-ratings-test-delay.yaml",
    )
    async with m.client(timeout=2.0) as c:
        t0 = time.monotonic()
        r = await c.get("http://ratings:9080/ratings/0", headers={"end-user": "ann"})
        assert r.status_code == 200 and time.monotonic() - t0 < 1.5
        t0 = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            await c.get("http://ratings:9080/ratings/0", headers={"end-user": "jason"})
        assert time.monotonic() - t0 >= 2.0


def test_delay_fault_is_seven_seconds_at_100_percent(workloads: list[Resource]) -> None:
    m = mesh(workloads, "destination-rule-all.yaml", "virtual-service-ratings-test-delay.yaml")
    route = m.snapshot._vhosts.get("ratings.default.svc.cluster.local")
    assert route is not None and route.routes is not None
    fault = route.routes[0].fault
    assert fault is not None and fault.delay == 7.0 and fault.delay_per_million == 1_000_000


async def test_gateway_routes_do_not_apply_to_mesh_traffic(workloads: list[Resource]) -> None:
    # bookinfo-gateway binds its VirtualService to the ingress gateway only (Istio's rule:
    # no `mesh` in gateways), so in-mesh calls to productpage take the default route.
    m = mesh(
        workloads, "destination-rule-all.yaml", "bookinfo-gateway.yaml", "certmanager-gateway.yaml"
    )
    assert await versions(m, "http://productpage:9080/anything", 5) == {"v1": 5}


def test_random_load_balancer(workloads: list[Resource]) -> None:
    m = mesh(workloads, "destination-rule-reviews.yaml")
    cluster = m.snapshot.clusters[("reviews.default.svc.cluster.local", "v1", 9080)]
    assert type(cluster.balancer).__name__ == "RandomBalancer"


@pytest.fixture(scope="module")
def mtls_workloads(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, list[Resource]]]:
    """Every Bookinfo workload behind a uvicorn server that speaks only mTLS: a certificate
    of its service account from the mesh CA, and a client certificate from the same CA
    required (as a STRICT sidecar does)."""
    from inmesh.security import CertificateAuthority, SpiffeId
    from inmesh.security._keys import private_key_pem

    base = tmp_path_factory.mktemp("bookinfo-mtls")
    ca = CertificateAuthority.init_root(base / "ca")
    servers: list[RunningServer] = []
    docs = []
    for app, version in WORKLOADS:
        key, issued = ca.issue(SpiffeId.of("default", f"bookinfo-{app}"))
        files = base / f"{app}-{version}"
        files.mkdir()
        (files / "cert.pem").write_bytes(issued.chain_pem)
        (files / "key.pem").write_bytes(private_key_pem(key))
        (files / "root.pem").write_bytes(issued.root_pem)
        s = start_server(
            echo_app(app, version),
            ssl_certfile=str(files / "cert.pem"),
            ssl_keyfile=str(files / "key.pem"),
            ssl_ca_certs=str(files / "root.pem"),
            ssl_cert_reqs=ssl.CERT_REQUIRED,
        )
        servers.append(s)
        docs.append(
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "WorkloadEntry",
                "metadata": {"name": f"{app}-{version}", "namespace": "default"},
                "spec": {
                    "address": "127.0.0.1",
                    "ports": {"http": s.port},
                    "labels": {"app": app, "version": version},
                    "serviceAccount": f"bookinfo-{app}",
                },
            }
        )
    yield (
        base / "ca",
        [
            *load_config(CORPUS / "platform-kube-bookinfo.yaml"),
            *parse_documents(docs, source="<bookinfo workloads>"),
        ],
    )
    for s in servers:
        s.stop()


async def test_bookinfo_runs_with_destination_rule_all_mtls(
    mtls_workloads: tuple[Path, list[Resource]],
) -> None:
    """destination-rule-all-mtls.yaml (ISTIO_MUTUAL on every subset) with the shifting task
    on top: traffic keeps its routes over mutual TLS, each server checked by its
    service account's identity."""
    ca_dir, workloads = mtls_workloads
    config = [
        *workloads,
        *load_config(
            CORPUS / "destination-rule-all-mtls.yaml",
            CORPUS / "virtual-service-reviews-80-20.yaml",
        ),
    ]
    m = inmesh.Mesh(
        service="productpage",
        service_account="bookinfo-productpage",
        labels={"app": "productpage", "version": "v1"},
        config=config,
        ca=ca_dir,
    )
    n = 400
    got = await versions(m, "http://reviews:9080/reviews/1", n)
    assert set(got) == {"v1", "v2"} and near(got["v2"], n, 0.2)
    assert sum((await versions(m, "http://ratings:9080/ratings/1", 5)).values()) == 5
    # a workload without a certificate cannot get in: the servers require mTLS
    plain = inmesh.Mesh(service="productpage", config=config)
    async with plain.client() as c:
        r = await c.get("http://ratings:9080/ratings/1")
    assert r.status_code == 503 and r.headers[inmesh.FLAGS_HEADER] == "UF"


def test_egress_port_rewrite_and_tls_origination() -> None:
    """egress-rule-google-apis.yaml: plain HTTP on port 80 goes to port 443 with TLS
    originated for www.googleapis.com (decided without leaving the machine)."""
    snap = Snapshot(
        load_config(CORPUS / "egress-rule-google-apis.yaml"), ClientIdentity(service="app")
    )
    from inmesh.outbound import request_view

    d = snap.decide(request_view(httpx.Request("GET", "http://www.googleapis.com/storage")))
    assert isinstance(d, Forward)
    assert d.cluster.port.number == 443
    assert d.cluster.tls is not None and d.cluster.tls.sni == "www.googleapis.com"
    assert d.cluster.service.resolution == "DNS"
    assert [(e.address, e.port) for e in d.cluster.endpoints] == [("www.googleapis.com", 443)]
