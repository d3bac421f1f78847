"""Load balancing against real servers: round robin, least request, consistent hashing
(header, query parameter, generated cookie) and WorkloadEntry weights."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

import inmesh
from tests.integration.conftest import Workload, workloads_yaml

pytestmark = pytest.mark.anyio


def reviews_dr(lb: str) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  trafficPolicy:
    loadBalancer:
{lb}
"""


def mesh_for(bookinfo: list[Workload], tmp_path: Path, lb: str) -> inmesh.Mesh:
    p = tmp_path / "mesh.yaml"
    p.write_text(workloads_yaml(bookinfo) + "\n---\n" + reviews_dr(lb))
    return inmesh.Mesh(service="productpage", config=p)


async def test_round_robin_visits_every_endpoint_in_turn(
    bookinfo: list[Workload], tmp_path: Path
) -> None:
    mesh = mesh_for(bookinfo, tmp_path, "      simple: ROUND_ROBIN")
    async with mesh, mesh.client() as c:
        seen = [(await c.get("http://reviews:9080/")).json()["version"] for _ in range(30)]
    assert Counter(seen) == {"v1": 10, "v2": 10, "v3": 10}


async def test_least_request_spreads_sequential_traffic(
    bookinfo: list[Workload], tmp_path: Path
) -> None:
    mesh = mesh_for(bookinfo, tmp_path, "      simple: LEAST_REQUEST")
    async with mesh, mesh.client() as c:
        seen = Counter(
            [(await c.get("http://reviews:9080/")).json()["version"] for _ in range(300)]
        )
    assert set(seen) == {"v1", "v2", "v3"}
    assert min(seen.values()) > 50, seen  # ties broken at random: roughly a third each


async def test_consistent_hash_on_header_is_sticky(
    bookinfo: list[Workload], tmp_path: Path
) -> None:
    lb = (
        "      consistentHash:\n        httpHeaderName: x-user\n"
        "        ringHash:\n          minimumRingSize: 1024"
    )
    mesh = mesh_for(bookinfo, tmp_path, lb)
    async with mesh, mesh.client() as c:
        chosen: dict[str, set[str]] = {}
        for user in (f"user-{i}" for i in range(40)):
            for _ in range(5):
                r = await c.get("http://reviews:9080/", headers={"x-user": user})
                chosen.setdefault(user, set()).add(r.json()["version"])
    assert all(len(v) == 1 for v in chosen.values()), chosen
    assert len({next(iter(v)) for v in chosen.values()}) == 3  # keys spread over all hosts


async def test_maglev_on_query_parameter_is_sticky(
    bookinfo: list[Workload], tmp_path: Path
) -> None:
    lb = (
        "      consistentHash:\n        httpQueryParameterName: cart\n"
        "        maglev:\n          tableSize: 65537"
    )
    mesh = mesh_for(bookinfo, tmp_path, lb)
    async with mesh, mesh.client() as c:
        for cart in range(20):
            versions = {
                (await c.get(f"http://reviews:9080/?cart={cart}")).json()["version"]
                for _ in range(4)
            }
            assert len(versions) == 1


async def test_generated_cookie_keeps_a_client_on_one_endpoint(
    bookinfo: list[Workload], tmp_path: Path
) -> None:
    lb = (
        "      consistentHash:\n        httpCookie:\n          name: session\n"
        "          path: /\n          ttl: 60s"
    )
    mesh = mesh_for(bookinfo, tmp_path, lb)
    async with mesh:
        firsts = set()
        for _ in range(12):
            async with mesh.client() as c:  # a new client has no cookie yet
                r = await c.get("http://reviews:9080/")
                assert "session=" in r.headers["set-cookie"]
                assert "Max-Age=60" in r.headers["set-cookie"]
                first = r.json()["version"]
                firsts.add(first)
                for _ in range(5):  # httpx's cookie jar sends it back
                    r = await c.get("http://reviews:9080/")
                    assert r.json()["version"] == first
                    assert "set-cookie" not in r.headers
    assert len(firsts) > 1


def test_workload_entry_weights(bookinfo: list[Workload], tmp_path: Path) -> None:
    p = tmp_path / "mesh.yaml"
    text = workloads_yaml(bookinfo).replace(
        "    version: v1\n", "    version: v1\n  weight: 3\n", 1
    )
    p.write_text(text + "\n---\n" + reviews_dr("      simple: ROUND_ROBIN"))
    with inmesh.Mesh(service="p", config=p) as mesh, mesh.sync_client() as c:
        seen = Counter(c.get("http://reviews:9080/").json()["version"] for _ in range(50))
    assert seen == {"v1": 30, "v2": 10, "v3": 10}
