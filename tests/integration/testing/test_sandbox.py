"""The Sandbox and the plugin's fixtures: sync and async clients (anyio's plugin and
pytest-asyncio), workloads calling each other, TLS and DNS failures, discovery, subsets,
deterministic mode, and use without pytest's fixtures."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import inmesh
from inmesh.testing import FaultPlan, Requests, Sandbox, deterministic, is_deterministic, workload
from tests.certs import make_server_cert
from tests.integration.testing.apps import app

Make = Callable[..., Sandbox]

SUBSETS = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: backend}
spec:
  host: backend
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
"""

CANARY = (
    SUBSETS
    + """---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: backend}
spec:
  hosts: [backend]
  http:
  - route:
    - {destination: {host: backend, subset: v1}, weight: 90}
    - {destination: {host: backend, subset: v2}, weight: 10}
"""
)


def front() -> inmesh.testing.Workload:
    async def asgi(scope: dict[str, object], receive: object, send: object) -> None:
        if scope["type"] != "http":
            return
        async with inmesh.current_mesh().client() as c:
            r = await c.get("http://backend/")
        body = f"backend said {r.status_code}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": body})  # type: ignore[operator]

    return workload(asgi, service="front")


def test_sync_client_in_a_sync_test(
    inmesh_mesh: Make, mesh_faults: FaultPlan, mesh_requests: Requests
) -> None:
    bed = inmesh_mesh(workloads={"backend-v1": app()})
    mesh_faults.refuse("backend", first=1)
    with bed.sync_client() as c:
        r = c.get("http://backend/")
    assert r.status_code == 200 and mesh_requests[0].attempts == 2
    assert is_deterministic()


@pytest.mark.asyncio
async def test_under_pytest_asyncio(inmesh_mesh: Make, mesh_faults: FaultPlan) -> None:
    bed = await inmesh_mesh(workloads=[front(), workload(app(), service="backend")])
    mesh_faults.abort("backend", status=503)
    async with bed.client() as c:
        r = await c.get("http://front/")
    # the fault applies to front's own outbound call: front's code handles it
    assert r.text == "backend said 503"
    assert bed.requests.to("backend").statuses() == [503]
    assert bed.requests.sent_by("front").statuses() == [503]


@pytest.mark.anyio
async def test_under_anyio(inmesh_mesh: Make, mesh_requests: Requests) -> None:
    bed = await inmesh_mesh(workloads=[front(), workload(app(), service="backend")])
    async with bed.client() as c:
        r = await c.get("http://front/")
    assert r.text == "backend said 200"
    assert [r.record.source_service for r in mesh_requests] == ["front", "test-client"]


@pytest.mark.anyio
async def test_tls_failure_is_a_connect_failure(
    inmesh_mesh: Make, mesh_faults: FaultPlan, mesh_requests: Requests
) -> None:
    bed = inmesh_mesh(workloads={"backend": app()})
    mesh_faults.tls_failure("backend")
    async with bed.client() as c:
        r = await c.get("http://backend/")
    assert r.status_code == 503 and mesh_requests[0].flags == {"UF", "URX"}
    error = mesh_requests[0].record.error
    assert "TLS error: " in error and "HANDSHAKE_FAILURE" in error
    assert mesh_requests[0].attempts == 3  # connect-failure: retried by the default policy


@pytest.mark.anyio
async def test_dns_failure_of_an_external_host(
    inmesh_mesh: Make, mesh_faults: FaultPlan, mesh_requests: Requests
) -> None:
    bed = inmesh_mesh(externals={"api.payments.example": app("payments")})
    async with bed.client() as c:
        assert (await c.get("http://api.payments.example/charge")).text.startswith("payments")
        with mesh_faults.dns_failure("api.payments.example"):
            r = await c.get("http://api.payments.example/charge")
        unknown = await c.get("http://nowhere.example/")
    assert r.status_code == 503
    assert "DNS resolution failed" in mesh_requests[1].record.error
    # a host nobody serves does not resolve either: nothing leaves the process
    assert unknown.status_code == 503 and "DNS resolution failed" in mesh_requests[2].record.error


@pytest.mark.anyio
async def test_endpoint_disappearing_from_discovery(
    inmesh_mesh: Make, mesh_requests: Requests
) -> None:
    bed = inmesh_mesh(workloads=[workload(app(), service="backend", replicas=2)])
    first, second = bed.endpoints("backend")
    async with bed.client() as c:
        with bed.remove_endpoint(first):
            for _ in range(6):
                await c.get("http://backend/")
        for _ in range(6):
            await c.get("http://backend/")
    assert set(mesh_requests[:6].endpoints()) == {bed.address(second)}
    assert set(mesh_requests[6:].endpoints()) == {bed.address(first), bed.address(second)}


@pytest.mark.anyio
async def test_faults_scoped_to_a_subset(
    inmesh_mesh: Make, mesh_faults: FaultPlan, mesh_requests: Requests
) -> None:
    bed = inmesh_mesh(CANARY, workloads={"backend-v1": app(), "backend-v2": app()})
    mesh_faults.abort("backend", subset="v2", status=500)
    async with bed.client() as c:
        for _ in range(100):
            await c.get("http://backend/")
    by_subset = Counter((r.subset, r.status) for r in mesh_requests)
    assert set(by_subset) == {("v1", 200), ("v2", 500)}


def versions(hits: Counter[str]) -> dict[str, object]:
    return {"backend-v1": app(hits=hits), "backend-v2": app(hits=hits)}


@pytest.mark.anyio
async def test_canary_gets_about_ten_percent_and_the_same_share_every_run(
    inmesh_mesh: Make, mesh_requests: Requests
) -> None:
    hits: Counter[str] = Counter()
    bed = inmesh_mesh(
        CANARY, workloads={"backend-v1": app(hits=hits), "backend-v2": app(hits=hits)}
    )
    async with bed.client() as c:
        for _ in range(1000):
            await c.get("http://backend/")
    canary = hits["GET backend-v2"]
    assert 70 <= canary <= 130
    # deterministic mode: the same seed makes the same choices
    with deterministic(0):
        again: Counter[str] = Counter()
        with Sandbox(config=CANARY, workloads=versions(again)) as bed2:
            async with bed2.client() as c:
                for _ in range(1000):
                    await c.get("http://backend/")
    assert again == hits


@pytest.mark.inmesh(deterministic=False)
def test_the_marker_turns_deterministic_mode_off(inmesh_mesh: Make) -> None:
    inmesh_mesh(workloads={"backend": app()})
    assert not is_deterministic()


def test_without_pytest_fixtures() -> None:
    async def main() -> tuple[int, list[str]]:
        with deterministic(), Sandbox(workloads={"backend": app()}) as bed:
            with bed.faults.sequence("backend", [503, None]):
                async with bed.client() as c:
                    r1 = await c.get("http://backend/")
                    r2 = await c.get("http://backend/")
            return r1.status_code * 1000 + r2.status_code, [t.fault for t in bed.wire.all]

    code, faults = asyncio.run(main())
    assert code == 503200 and faults == ["abort 503", ""]


@pytest.mark.anyio
async def test_app_errors_are_500s_and_kept(inmesh_mesh: Make) -> None:
    async def broken(scope: dict[str, object], receive: object, send: object) -> None:
        if scope["type"] == "http":
            raise RuntimeError("boom")

    bed = inmesh_mesh(workloads={"backend": broken})
    async with bed.client() as c:
        r = await c.get("http://backend/")
    assert r.status_code == 500 and [str(e) for e in bed.errors] == ["boom"]


def test_unknown_endpoint_and_subset_are_named(inmesh_mesh: Make, mesh_faults: FaultPlan) -> None:
    bed = inmesh_mesh(SUBSETS, workloads={"backend-v1": app()})
    with pytest.raises(KeyError, match="backend-v1-0"):
        bed.remove_endpoint("backend-v9-0")
    with pytest.raises(ValueError, match="no DestinationRule subset 'v9'"):
        mesh_faults.abort("backend", subset="v9")
    with pytest.raises(ValueError, match="network"):
        Sandbox(network="udp")  # type: ignore[arg-type]


ROUTES = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: backend}
spec:
  hosts: [backend]
  http:
  - name: writes
    match: [{method: {exact: POST}}]
    timeout: 0.2s
    route: [{destination: {host: backend}}]
  - name: reads
    route: [{destination: {host: backend}}]
"""


@pytest.mark.anyio
async def test_faults_scoped_to_a_route_use_istios_fault_filter(
    inmesh_mesh: Make, mesh_faults: FaultPlan, mesh_requests: Requests
) -> None:
    bed = inmesh_mesh(ROUTES, workloads={"backend": app()})
    async with bed.client() as c:
        with mesh_faults.abort(route="writes", status=418):
            posted = await c.post("http://backend/", content=b"x")
            read = await c.get("http://backend/")
        # the fault filter's delay runs before the route timeout starts (Envoy): the
        # caller's own timeout ends the wait
        with mesh_faults.delay(route="writes", seconds=5), pytest.raises(httpx.ReadTimeout):
            await c.post("http://backend/", content=b"x", timeout=0.1)
        after = await c.post("http://backend/", content=b"x")
    assert (posted.status_code, read.status_code, after.status_code) == (418, 200, 200)
    assert mesh_requests[0].flags == {"FI"} and mesh_requests[0].attempts == 0
    assert mesh_requests[0].route == "writes" and not mesh_requests[0].tries
    with pytest.raises(ValueError, match="no VirtualService has an http route named 'nope'"):
        mesh_faults.abort(route="nope")
    with pytest.raises(ValueError, match="only percentage= applies, not first"):
        mesh_faults.abort(route="writes", first=1)


@pytest.mark.anyio
async def test_real_tls_on_real_ports(
    inmesh_mesh: Make, mesh_faults: FaultPlan, mesh_requests: Requests, tmp_path: Path
) -> None:
    host = "backend.default.svc.cluster.local"
    certs = make_server_cert(tmp_path, host)
    options = {"ssl_certfile": str(certs.cert_file), "ssl_keyfile": str(certs.key_file)}
    bed = inmesh_mesh(
        f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: backend}}
spec:
  host: backend
  trafficPolicy: {{tls: {{mode: SIMPLE, caCertificates: {certs.ca_file}, sni: {host}}}}}
""",
        workloads=[workload(app(), service="backend", server_options=options)],
        network="tcp",
    )
    async with bed.client() as c:
        ok = await c.get("http://backend/")
        with mesh_faults.tls_failure("backend"):
            failed = await c.get("http://backend/")
    assert ok.status_code == 200 and failed.status_code == 503
    assert mesh_requests[1].flags == {"UF", "URX"}
    with pytest.raises(ValueError, match=r"server_options .* need network='tcp'"):
        inmesh_mesh(workloads=[workload(app(), service="x", server_options=options)])


ONLY_FRONT = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: backend-from-front}
spec:
  selector: {matchLabels: {app: backend}}
  action: ALLOW
  rules:
  - from: [{source: {principals: [cluster.local/ns/default/sa/front]}}]
"""


@pytest.mark.anyio
async def test_mesh_mtls_and_authorization_on_real_ports(inmesh_mesh: Make, tmp_path: Path) -> None:
    from inmesh.security import CertificateAuthority

    CertificateAuthority.init_root(tmp_path / "ca")
    bed = inmesh_mesh(
        ONLY_FRONT,
        workloads=[front(), workload(app(), service="backend")],
        network="tcp",
        ca=tmp_path / "ca",
    )
    async with bed.client() as c:
        direct = await c.get("http://backend/")  # the test's own identity: not allowed
        via_front = await c.get("http://front/")
    assert direct.status_code == 403 and via_front.text == "backend said 200"
    to_backend = [r for r in bed.received if r.destination_service.startswith("backend.")]
    assert {r.connection_security_policy for r in to_backend} == {"mutual_tls"}
    assert sorted(r.source_principal.rsplit("/", 1)[1] for r in to_backend) == [
        "front",
        "test-client",
    ]
    with pytest.raises(ValueError, match="needs network='tcp'"):
        inmesh_mesh(workloads={"x": app()}, ca=tmp_path / "ca")


def lifespan_app(events: list[str]) -> object:
    """A Starlette app whose lifespan makes a client with its own Mesh and keeps state."""
    from contextlib import asynccontextmanager

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
        events.append(f"startup as {inmesh.current_mesh().service}")
        yield {"greeting": "hello"}
        events.append("shutdown")

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.state.greeting)

    return Starlette(routes=[Route("/", hello)], lifespan=lifespan)


@pytest.mark.anyio
@pytest.mark.parametrize("network", ["memory", "tcp"])
async def test_lifespan_runs_with_the_workloads_mesh(network: str) -> None:
    events: list[str] = []
    workloads = [workload(lifespan_app(events), service="greeter")]
    net: Any = network
    async with Sandbox(workloads=workloads, network=net) as bed, bed.client() as c:
        r = await c.get("http://greeter/")
    assert r.text == "hello"
    assert events == ["startup as greeter", "shutdown"]


@pytest.mark.anyio
async def test_a_failed_lifespan_startup_is_named(inmesh_mesh: Make) -> None:
    async def failing(scope: dict[str, object], receive: object, send: object) -> None:
        await receive()  # type: ignore[operator]
        await send({"type": "lifespan.startup.failed", "message": "no database"})  # type: ignore[operator]

    bed = inmesh_mesh(workloads={"db-v1": failing})
    async with bed.client() as c:
        with pytest.raises(RuntimeError, match="workload db-v1-0: lifespan startup failed: no"):
            await c.get("http://db/")
