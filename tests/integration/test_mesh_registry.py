"""A Mesh fed by a real registry process: pushes are applied, local files combine with the
registry's resources, and the cached view keeps a restarted process routing while the
registry is down."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import inmesh
from inmesh.registry import RegistryRejected
from inmesh.security import TrustBundle
from tests.integration.registry.conftest import Registry, spawn_registry
from tests.servers import RunningServer, echo_app, start_server


@pytest.fixture
def backends() -> Iterator[list[RunningServer]]:
    servers = [start_server(echo_app("reviews", v)) for v in ("v1", "v2")]
    yield servers
    for s in servers:
        s.stop()


def config(servers: list[RunningServer], weights: tuple[int, int]) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: reviews}}
spec:
  hosts: [reviews.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 9080, name: http, protocol: HTTP}}]
  endpoints:
  - {{address: 127.0.0.1, ports: {{http: {servers[0].port}}}, labels: {{version: v1}}}}
  - {{address: 127.0.0.1, ports: {{http: {servers[1].port}}}, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: reviews}}
spec:
  host: reviews
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews}}
spec:
  hosts: [reviews]
  http:
  - route:
    - {{destination: {{host: reviews, subset: v1}}, weight: {weights[0]}}}
    - {{destination: {{host: reviews, subset: v2}}, weight: {weights[1]}}}
"""


def versions(mesh: inmesh.Mesh, n: int = 20) -> set[str]:
    with mesh.sync_client() as c:
        return {c.get("http://reviews:9080/").json()["version"] for _ in range(n)}


def wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_pushes_are_applied_and_the_cache_survives_an_outage(
    tmp_path: Path, backends: list[RunningServer]
) -> None:
    registry: Registry = spawn_registry(tmp_path / "registry")
    cache = tmp_path / "view.json"
    try:
        assert registry.apply(config(backends, (100, 0))).status_code == 200
        mesh = inmesh.Mesh(
            service="productpage", registry=registry.url, token=registry.admin, cache_file=cache
        )
        with mesh:
            assert versions(mesh) == {"v1"}
            assert registry.apply(config(backends, (0, 100))).status_code == 200
            wait_for(lambda: versions(mesh, 5) == {"v2"})
            registry.stop()  # the registry goes away: the last view keeps routing
            assert versions(mesh) == {"v2"}
        assert cache.exists()
        # a process restarted during the outage starts from the cached view
        restarted = inmesh.Mesh(
            service="productpage",
            registry=registry.url,
            token=registry.admin,
            cache_file=cache,
            first_view_timeout=1.0,
        )
        with restarted:
            assert versions(restarted) == {"v2"}
        without_cache = inmesh.Mesh(
            service="productpage",
            registry=registry.url,
            token=registry.admin,
            first_view_timeout=0.5,
        )
        with pytest.raises(inmesh.InmeshError, match="no cached view"):
            without_cache.start()
    finally:
        registry.stop()


def test_local_files_combine_and_the_registry_overrides(
    tmp_path: Path, backends: list[RunningServer]
) -> None:
    registry = spawn_registry(tmp_path / "registry")
    try:
        local = tmp_path / "local.yaml"
        local.write_text(config(backends, (100, 0)))
        only_vs = config(backends, (0, 100)).split("---")[-1]
        assert registry.apply(only_vs).status_code == 200
        mesh = inmesh.Mesh(
            service="productpage", config=local, registry=registry.url, token=registry.admin
        )
        with mesh:
            # ServiceEntry and DestinationRule from the file, the VirtualService from the
            # registry (same kind/namespace/name as the local one: the registry's wins)
            assert versions(mesh) == {"v2"}
    finally:
        registry.stop()


def test_a_mesh_gets_its_certificate_from_the_registrys_ca(tmp_path: Path) -> None:
    registry = spawn_registry(tmp_path / "data")
    try:
        token = registry.join_token("shop")
        mesh = inmesh.Mesh(service="cart", namespace="shop", registry=registry.url, token=token)
        with mesh:
            holder = mesh.tls
            assert holder is not None
            tls = holder.current()
            assert str(tls.identity) == "spiffe://cluster.local/ns/shop/sa/cart"
            with registry.http() as c:
                roots = c.get("/v1/ca/roots").json()["rootCerts"]
            # the workload trusts the registry's root, and its leaf chains to it
            expected = TrustBundle.from_pem("".join(roots).encode())
            assert tls.bundle.pem() == expected.pem()
        # a join token for `shop` cannot get an identity in another namespace
        other = inmesh.Mesh(service="cart", namespace="bank", registry=registry.url, token=token)
        with pytest.raises(RegistryRejected, match="namespace"):
            other.start()
    finally:
        registry.stop()
