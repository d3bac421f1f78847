"""Routing against real uvicorn servers: splits, header/query matches, rewrite, redirect,
subsets, and both the async and the sync client."""

from __future__ import annotations

import math
import socket
from collections import Counter
from pathlib import Path

import httpx
import pytest

import inmesh
from tests.integration.conftest import SUBSETS, Workload, workloads_yaml

pytestmark = pytest.mark.anyio


def split_vs(weights: dict[str, int]) -> str:
    routes = "".join(
        f"""
    - destination:
        host: reviews
        subset: {subset}
      weight: {w}"""
        for subset, w in weights.items()
    )
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:{routes}
"""


def write(tmp_path: Path, *docs: str) -> Path:
    p = tmp_path / "mesh.yaml"
    p.write_text("\n---\n".join(docs))
    return p


def within_binomial(count: int, n: int, p: float, sigmas: float = 5.0) -> bool:
    """``count`` successes out of ``n`` at probability ``p``, within ``sigmas`` std devs."""
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


@pytest.mark.parametrize(("v1", "v2"), [(90, 10), (80, 20)])
async def test_weighted_split_matches_weights(
    bookinfo: list[Workload], tmp_path: Path, v1: int, v2: int
) -> None:
    cfg = write(tmp_path, workloads_yaml(bookinfo), SUBSETS, split_vs({"v1": v1, "v2": v2}))
    mesh = inmesh.Mesh(service="productpage", config=cfg)
    n = 1500
    counts: Counter[str] = Counter()
    async with mesh, mesh.client() as client:
        for _ in range(n):
            r = await client.get("http://reviews:9080/reviews/1")
            assert r.status_code == 200
            counts[r.json()["version"]] += 1
    assert set(counts) <= {"v1", "v2"}
    assert within_binomial(counts["v1"], n, v1 / 100), counts


def test_sync_client_split(bookinfo: list[Workload], tmp_path: Path) -> None:
    cfg = write(tmp_path, workloads_yaml(bookinfo), SUBSETS, split_vs({"v2": 50, "v3": 50}))
    n = 600
    counts: Counter[str] = Counter()
    with inmesh.Mesh(service="productpage", config=cfg) as mesh, mesh.sync_client() as client:
        for _ in range(n):
            counts[client.get("http://reviews:9080/").json()["version"]] += 1
    assert set(counts) == {"v2", "v3"}
    assert within_binomial(counts["v2"], n, 0.5), counts


JASON = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - match:
    - headers:
        end-user:
          exact: jason
    route:
    - destination: {host: reviews, subset: v2}
  - match:
    - queryParams:
        beta:
          exact: "yes"
      uri:
        prefix: /reviews
    route:
    - destination: {host: reviews, subset: v1}
  - route:
    - destination: {host: reviews, subset: v3}
"""


async def test_header_and_query_routing(bookinfo: list[Workload], tmp_path: Path) -> None:
    cfg = write(tmp_path, workloads_yaml(bookinfo), SUBSETS, JASON)
    async with inmesh.Mesh(service="productpage", config=cfg) as mesh, mesh.client() as c:
        for _ in range(20):
            r = await c.get("http://reviews:9080/reviews/1", headers={"end-user": "jason"})
            assert r.json()["version"] == "v2"
            r = await c.get("http://reviews:9080/reviews/1", headers={"end-user": "mary"})
            assert r.json()["version"] == "v3"
            r = await c.get("http://reviews:9080/reviews/1?beta=yes")
            assert r.json()["version"] == "v1"
            r = await c.get("http://reviews:9080/other?beta=yes")
            assert r.json()["version"] == "v3"


REWRITE = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - name: legacy
    match:
    - uri:
        prefix: /v1/reviews
    rewrite:
      uri: /reviews
      authority: reviews.internal
    headers:
      request:
        set: {x-route: legacy}
        remove: [x-drop]
      response:
        add: {x-served-by: inmesh}
    route:
    - destination: {host: reviews, subset: v1}
  - match:
    - uri:
        exact: /old
    redirect:
      uri: /new
      authority: ratings
  - match:
    - uri:
        regex: "/items/[0-9]+"
    redirect:
      uri: /catalog
      redirectCode: 308
  - route:
    - destination: {host: reviews, subset: v1}
"""


async def test_rewrite_headers_and_redirect(bookinfo: list[Workload], tmp_path: Path) -> None:
    cfg = write(tmp_path, workloads_yaml(bookinfo), SUBSETS, REWRITE)
    async with inmesh.Mesh(service="productpage", config=cfg) as mesh, mesh.client() as c:
        r = await c.get("http://reviews:9080/v1/reviews/7?x=1", headers={"x-drop": "1"})
        body = r.json()
        assert body["path"] == "/reviews/7"
        assert body["query"] == "x=1"
        assert body["headers"]["host"] == "reviews.internal"
        assert body["headers"]["x-route"] == "legacy"
        assert "x-drop" not in body["headers"]
        assert r.headers["x-served-by"] == "inmesh"

        r = await c.get("http://reviews:9080/old?q=2")
        assert r.status_code == 301
        assert r.headers["location"] == "http://ratings/new?q=2"  # Envoy: new host, no port

        r = await c.get("http://reviews:9080/items/12")
        assert r.status_code == 308
        assert r.headers["location"] == "http://reviews:9080/catalog"
        r = await c.get("http://reviews:9080/items/12x")  # regex matches the whole path only
        assert r.status_code == 200


async def test_host_aliases_resolve_like_istio(bookinfo: list[Workload], tmp_path: Path) -> None:
    cfg = write(tmp_path, workloads_yaml(bookinfo), SUBSETS, split_vs({"v1": 100}))
    async with inmesh.Mesh(service="productpage", config=cfg) as mesh, mesh.client() as c:
        for host in (
            "reviews",
            "reviews.default",
            "reviews.default.svc",
            "reviews.default.svc.cluster.local",
        ):
            r = await c.get(f"http://{host}:9080/")
            assert r.json()["version"] == "v1", host
    other_ns = inmesh.Mesh(service="productpage", namespace="other", config=cfg)
    async with other_ns, other_ns.client() as c:
        # a short name resolves in the client's own namespace only: not a mesh host here
        r = await c.get("http://reviews.default:9080/")
        assert r.json()["version"] == "v1"


async def test_mesh_answers_like_a_sidecar(bookinfo: list[Workload], tmp_path: Path) -> None:
    only_v1 = [w for w in bookinfo if w.version == "v1"]
    dead = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: dead}
spec:
  hosts: [dead.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints:
  - address: 127.0.0.1
    ports: {http: 1}
"""
    vs = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /v2}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - match: [{uri: {prefix: /v9}}]
    route: [{destination: {host: reviews, subset: v9}}]
  - match: [{uri: {prefix: /v1}}]
    route: [{destination: {host: reviews, subset: v1}}]
"""
    cfg = write(tmp_path, workloads_yaml(only_v1), SUBSETS, vs, dead)
    records: list[inmesh.RequestRecord] = []
    mesh = inmesh.Mesh(service="productpage", labels={"version": "v1"}, config=cfg)
    mesh.add_hook(records.append)
    async with mesh, mesh.client() as c:
        r = await c.get("http://reviews:9080/v2")  # subset without endpoints
        assert (r.status_code, r.text) == (503, "no healthy upstream")
        assert r.headers[inmesh.FLAGS_HEADER] == "UH"
        r = await c.get("http://reviews:9080/v9")  # subset no DestinationRule defines
        assert (r.status_code, r.headers[inmesh.FLAGS_HEADER]) == (503, "NC")
        r = await c.get("http://reviews:9080/nowhere")  # no route matches
        assert (r.status_code, r.headers[inmesh.FLAGS_HEADER]) == (404, "NR")
        r = await c.get("http://dead/")  # refused, retried twice by Istio's default policy
        assert (r.status_code, r.headers[inmesh.FLAGS_HEADER]) == (503, "UF,URX")
        r = await c.get("http://reviews:9080/v1")
        assert r.status_code == 200 and inmesh.FLAGS_HEADER not in r.headers
    flags = [rec.response_flags for rec in records]
    assert flags == ["UH", "NC", "NR", "UF,URX", "-"]
    assert [rec.attempts for rec in records] == [0, 0, 0, 3, 1]
    ok = records[-1]
    assert (ok.source_service, ok.source_version) == ("productpage", "v1")
    assert ok.destination_service == "reviews.default.svc.cluster.local"
    assert ok.destination_subset == "v1"
    assert ok.destination_endpoint == f"127.0.0.1:{only_v1[0].port}"
    assert ok.status == 200 and ok.attempts == 1 and ok.duration > 0


async def test_outbound_policy(bookinfo: list[Workload], tmp_path: Path) -> None:
    cfg = write(tmp_path, workloads_yaml(bookinfo))
    direct = f"http://127.0.0.1:{bookinfo[3].port}/x"
    async with inmesh.Mesh(service="p", config=cfg) as mesh, mesh.client() as c:
        r = await c.get(direct)  # ALLOW_ANY: not a mesh host, goes out directly
        assert r.status_code == 200 and r.json()["service"] == "ratings"
    mesh = inmesh.Mesh(service="p", config=cfg, outbound_policy="REGISTRY_ONLY")
    async with mesh, mesh.client() as c:
        r = await c.get(direct)
        assert (r.status_code, r.headers[inmesh.FLAGS_HEADER]) == (502, "NR")
        r = await c.get("http://ratings:9080/")
        assert r.status_code == 200


async def test_apply_is_atomic_and_bad_config_changes_nothing(
    bookinfo: list[Workload], tmp_path: Path
) -> None:
    cfg = write(tmp_path, workloads_yaml(bookinfo), SUBSETS, split_vs({"v1": 100}))
    mesh = inmesh.Mesh(service="productpage", config=cfg)
    async with mesh, mesh.client() as c:
        assert (await c.get("http://reviews:9080/")).json()["version"] == "v1"
        bad = tmp_path / "bad.yaml"
        bad.write_text(split_vs({"v2": 100}) + "\n---\n" + split_vs({"v3": -1}))
        with pytest.raises(inmesh.ConfigError) as err:
            mesh.apply_file(cfg, bad)
        assert "bad.yaml" in str(err.value) and "weight" in str(err.value)
        assert (await c.get("http://reviews:9080/")).json()["version"] == "v1"
        resources = inmesh.load_config(cfg)
        new = [r for r in resources if r.kind != "VirtualService"]
        new += inmesh.load_config(write(tmp_path, split_vs({"v2": 100})))
        mesh.apply(new)
        assert (await c.get("http://reviews:9080/")).json()["version"] == "v2"


async def test_transport_for_a_client_the_user_builds(
    bookinfo: list[Workload], tmp_path: Path
) -> None:
    cfg = write(tmp_path, workloads_yaml(bookinfo), SUBSETS, split_vs({"v3": 100}))
    mesh = inmesh.Mesh(service="productpage", config=cfg)
    async with httpx.AsyncClient(transport=mesh.transport(), base_url="http://reviews:9080") as c:
        r = await c.post("/reviews", json={"stars": 5})
        assert r.json()["version"] == "v3" and r.json()["body"] == '{"stars":5}'
    with httpx.Client(transport=mesh.sync_transport()) as sc:
        assert sc.get("http://reviews:9080/").json()["version"] == "v3"


async def test_connection_refused_says_which_endpoint(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "mesh.yaml"
    cfg.write_text(
        f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: gone}}
spec:
  hosts: [gone.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints: [{{address: 127.0.0.1, ports: {{http: {port}}}}}]
"""
    )
    records: list[inmesh.RequestRecord] = []
    mesh = inmesh.Mesh(service="app", config=cfg)
    mesh.add_hook(records.append)
    async with mesh.client() as c:
        r = await c.get("http://gone/")
    with mesh.sync_client() as sc:
        rs = sc.get("http://gone/")
    for response, record in ((r, records[0]), (rs, records[1])):
        assert response.status_code == 503
        assert response.headers[inmesh.FLAGS_HEADER] == "UF,URX"
        assert response.text.endswith(
            f"transport failure reason: endpoint 127.0.0.1:{port}: connection refused"
        )
        assert record.error == f"endpoint 127.0.0.1:{port}: connection refused"
        assert record.attempts == 3


async def test_a_sidecar_scopes_what_a_workload_reaches(
    bookinfo: list[Workload], tmp_path: Path
) -> None:
    # Istio's Sidecar: this workload imports reviews only; with outboundTrafficPolicy
    # REGISTRY_ONLY, a mesh service it does not import is not a host it can reach.
    sidecar = """
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default}
spec:
  egress: [{hosts: [./reviews.default.svc.cluster.local]}]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
"""
    cfg = write(tmp_path, workloads_yaml(bookinfo), SUBSETS, split_vs({"v1": 100}), sidecar)
    mesh = inmesh.Mesh(service="productpage", config=cfg)
    assert sorted(mesh.snapshot.services) == ["reviews.default.svc.cluster.local"]
    async with mesh, mesh.client() as client:
        ok = await client.get("http://reviews:9080/")
        assert (ok.status_code, ok.json()["version"]) == (200, "v1")
        blocked = await client.get("http://ratings:9080/")
        assert (blocked.status_code, blocked.headers[inmesh.FLAGS_HEADER]) == (502, "NR")
    mesh.apply(cfg)  # the same file again
    assert sorted(mesh.snapshot.services) == ["reviews.default.svc.cluster.local"]
