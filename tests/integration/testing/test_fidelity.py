"""Fault fidelity: an injected fault and the real failure it imitates get the same
reaction from the mesh (retries, timeouts, outlier detection, records), in memory and on
real ports. The real failures come from real sockets on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

import inmesh
from inmesh.testing import FaultPlan, Requests, Sandbox
from tests.integration.testing.apps import app, closed_port, raw_server, static_service

pytestmark = pytest.mark.anyio
NETWORKS = pytest.mark.parametrize("network", ["memory", "tcp"])
Make = Callable[..., Sandbox]


def shape(record: inmesh.RequestRecord) -> tuple[int, str, int, str, str]:
    """What the mesh did, without where (addresses differ between a fault and a socket)."""
    cause = record.error.split(": ", 1)[1] if record.error else ""
    return record.status, record.response_flags, record.attempts, record.details, cause


def retries(policy: str) -> str:
    """A VirtualService for backend with this retry policy."""
    return vs(f"  - retries: {policy}\n    route: [{{destination: {{host: backend}}}}]")


def vs(http: str, host: str = "backend") -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {host}}}
spec:
  hosts: [{host}]
  http:
{http}"""


async def real(config: str, path: str = "/") -> tuple[inmesh.RequestRecord, Any]:
    """One request through a plain Mesh (no inmesh.testing) to real sockets."""
    records: list[inmesh.RequestRecord] = []
    mesh = inmesh.Mesh(service="test-client", config=list(_docs(config)))
    mesh.add_hook(records.append)
    outcome: Any
    async with mesh.client() as c:
        try:
            r = await c.get(f"http://backend{path}")
            outcome = r.status_code
        except httpx.HTTPError as exc:
            outcome = type(exc)
    return records[0], outcome


def _docs(text: str) -> list[Any]:
    import yaml

    return [d for d in yaml.safe_load_all(text) if d]


# -- connection refused ----------------------------------------------------------------------


@NETWORKS
async def test_injected_refusal_is_retried_under_the_default_policy(
    inmesh_mesh: Make, mesh_faults: FaultPlan, mesh_requests: Requests, network: str
) -> None:
    # Istio's default retry policy: 2 attempts on connect-failure, refused-stream,
    # unavailable, cancelled, retriable-status-codes.
    bed = inmesh_mesh(workloads={"backend-v1": app()}, network=network)
    mesh_faults.refuse("backend", first=1)
    async with bed.client() as c:
        r = await c.get("http://backend/")
    assert r.status_code == 200 and r.text.startswith("backend-v1")
    (req,) = mesh_requests
    assert req.attempts == 2 and req.retried and not req.flags
    assert [t.fault for t in req.tries] == ["connection refused", ""]
    assert [t.sent for t in req.tries] == [False, True]


async def test_injected_refusal_matches_a_closed_port(
    inmesh_mesh: Make, mesh_faults: FaultPlan, mesh_requests: Requests
) -> None:
    record, status = await real(static_service("backend", closed_port()))
    bed = inmesh_mesh(workloads={"backend": app()})
    mesh_faults.refuse("backend")
    async with bed.client() as c:
        r = await c.get("http://backend/")
    assert r.status_code == status == 503
    assert shape(mesh_requests[0].record) == shape(record)
    assert "URX" in mesh_requests[0].flags and "UF" in mesh_requests[0].flags


async def test_pooled_connections_to_a_refusing_endpoint_are_dropped(
    inmesh_mesh: Make, mesh_faults: FaultPlan, mesh_requests: Requests
) -> None:
    bed = inmesh_mesh(workloads={"backend": app()})
    async with bed.client() as c:
        assert (await c.get("http://backend/")).status_code == 200  # a pooled connection
        with mesh_faults.refuse("backend") as fault:
            r = await c.get("http://backend/")
        assert r.status_code == 503 and fault.hits == 3  # every attempt connected anew
        assert (await c.get("http://backend/")).status_code == 200
    assert mesh_requests.statuses() == [200, 503, 200]


# -- reset before response headers ----------------------------------------------------------


@NETWORKS
async def test_injected_reset_matches_a_real_reset(
    inmesh_mesh: Make, mesh_faults: FaultPlan, mesh_requests: Requests, network: str
) -> None:
    with raw_server("reset") as port:
        record, status = await real(static_service("backend", port))
    bed = inmesh_mesh(workloads={"backend": app()}, network=network)
    mesh_faults.reset_before_headers("backend")
    async with bed.client() as c:
        r = await c.post("http://backend/orders", content=b"{}")
    assert r.status_code == status
    assert shape(mesh_requests[0].record) == shape(record)
    # the default policy does not retry a reset: the POST went out once
    assert mesh_requests[0].attempts == 1 and not mesh_requests.sent_twice("POST")


async def test_reset_is_retried_when_the_route_says_reset(
    inmesh_mesh: Make, mesh_faults: FaultPlan, mesh_requests: Requests
) -> None:
    config = retries("{attempts: 2, retryOn: reset}")
    bed = inmesh_mesh(config, workloads={"backend": app()})
    mesh_faults.reset_before_headers("backend", first=1)
    async with bed.client() as c:
        r = await c.post("http://backend/orders", content=b"{}")
    assert r.status_code == 200
    assert mesh_requests.retried() and mesh_requests.sent_twice("POST")


# -- reset in the middle of the body ---------------------------------------------------------


@NETWORKS
async def test_injected_mid_body_reset_is_not_retried(
    inmesh_mesh: Make, mesh_faults: FaultPlan, mesh_requests: Requests, network: str
) -> None:
    config = vs(
        "  - retries: {attempts: 3, retryOn: '5xx,reset,connect-failure'}\n"
        "    route: [{destination: {host: backend}}]"
    )
    with raw_server("mid-body") as port:
        record, outcome = await real(static_service("backend", port) + "---" + config)
    bed = inmesh_mesh(config, workloads={"backend": app(body_bytes=100)}, network=network)
    mesh_faults.reset_mid_body("backend", after_bytes=10)
    async with bed.client() as c:
        with pytest.raises(httpx.RemoteProtocolError):
            await c.get("http://backend/")
    assert outcome is httpx.RemoteProtocolError
    # headers had come: nothing is retried, as for the real reset
    assert mesh_requests[0].attempts == record.attempts == 1
    assert mesh_requests[0].sent == 1


# -- delays, stalls and slow bodies against timeouts ------------------------------------------


@NETWORKS
async def test_injected_delay_trips_the_route_timeout(
    inmesh_mesh: Make, mesh_faults: FaultPlan, mesh_requests: Requests, network: str
) -> None:
    config = vs("  - timeout: 0.2s\n    route: [{destination: {host: backend}}]")
    record, status = await real_slow(config, inmesh_mesh)
    mesh_requests.clear()
    bed = inmesh_mesh(config, workloads={"backend": app()}, network=network)
    mesh_faults.delay("backend", seconds=5)
    async with bed.client() as c:
        r = await c.get("http://backend/")
    assert r.status_code == status == 504
    assert shape(mesh_requests[0].record) == shape(record)
    assert mesh_requests[0].flags == {"UT"}


async def real_slow(config: str, make: Make) -> tuple[inmesh.RequestRecord, int]:
    """The real thing: an app that takes 5 s, under uvicorn, no fault injected."""
    bed = make(config, workloads={"backend": app(sleep=5)}, network="tcp")
    async with bed.client() as c:
        r = await c.get("http://backend/")
    return bed.requests[-1].record, r.status_code


async def test_injected_delay_trips_the_callers_own_timeout(
    inmesh_mesh: Make, mesh_faults: FaultPlan
) -> None:
    bed = inmesh_mesh(workloads={"backend": app()})
    mesh_faults.delay("backend", seconds=5)
    async with bed.client(timeout=0.1) as c:
        with pytest.raises(httpx.ReadTimeout):
            await c.get("http://backend/")


@NETWORKS
async def test_stalled_body_trips_the_route_timeout(
    inmesh_mesh: Make, mesh_faults: FaultPlan, network: str
) -> None:
    config = vs("  - timeout: 0.2s\n    route: [{destination: {host: backend}}]")
    bed = inmesh_mesh(config, workloads={"backend": app(body_bytes=100)}, network=network)
    mesh_faults.stall("backend", after_bytes=10)
    async with bed.client() as c:
        with pytest.raises(httpx.ReadTimeout):
            await c.get("http://backend/")


async def test_slow_body_arrives_whole_without_a_timeout(
    inmesh_mesh: Make, mesh_faults: FaultPlan
) -> None:
    bed = inmesh_mesh(workloads={"backend": app(body_bytes=100)})
    mesh_faults.slow_body("backend", chunk_bytes=10, seconds_per_chunk=0.001)
    chunks: list[bytes] = []
    async with bed.client() as c, c.stream("GET", "http://backend/") as r:
        async for chunk in r.aiter_raw():
            chunks.append(chunk)
    assert b"".join(chunks) == b"x" * 100 and len(chunks) >= 10


# -- aborts, gRPC status, outlier detection -----------------------------------------------------


async def test_abort_sequence_is_retried_on_5xx(
    inmesh_mesh: Make, mesh_faults: FaultPlan, mesh_requests: Requests
) -> None:
    config = retries("{attempts: 3, retryOn: 5xx}")
    bed = inmesh_mesh(config, workloads={"backend": app()})
    fault = mesh_faults.sequence("backend", [503, 500, None])
    async with bed.client() as c:
        r = await c.get("http://backend/")
    assert r.status_code == 200 and mesh_requests[0].attempts == 3 and fault.hits == 2


async def test_grpc_unavailable_is_retried_on_unavailable(
    inmesh_mesh: Make, mesh_faults: FaultPlan, mesh_requests: Requests
) -> None:
    config = retries("{attempts: 2, retryOn: unavailable}")
    bed = inmesh_mesh(config, workloads={"backend": app()})
    mesh_faults.grpc_status("backend", code=14, first=1)
    async with bed.client() as c:
        r = await c.post(
            "http://backend/pkg.Svc/Call", headers={"content-type": "application/grpc"}
        )
    assert r.status_code == 200 and "grpc-status" not in r.headers
    assert mesh_requests[0].attempts == 2


OUTLIER = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: backend}
spec:
  host: backend
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection: {consecutive5xxErrors: 2, interval: 60s, baseEjectionTime: 60s,
                       maxEjectionPercent: 50}
"""


@pytest.mark.parametrize("how", ["injected", "real"])
async def test_outlier_detection_ejects_an_endpoint_answering_5xx(
    inmesh_mesh: Make, mesh_faults: FaultPlan, mesh_requests: Requests, how: str
) -> None:
    from inmesh.testing import workload

    if how == "injected":
        workloads = [workload(app(), service="backend", replicas=2)]
    else:  # the same replica set, one replica's app really answering 503
        workloads = [
            workload(app(), service="backend", labels={"replica": "good"}),
            workload(app(status=503), service="backend", version="v2"),
        ]
    bed = inmesh_mesh(OUTLIER, workloads=workloads)
    bad = bed.endpoints("backend")[0 if how == "injected" else 1]
    good = next(e for e in bed.endpoints("backend") if e != bad)
    if how == "injected":
        mesh_faults.abort("backend", endpoint=bad, status=503)
    async with bed.client() as c:
        statuses = [(await c.get("http://backend/")).status_code for _ in range(10)]
    assert bed.ejected(bad) and not bed.ejected(good)
    assert statuses.count(503) == 2  # two consecutive 5xx on the bad one, then it is out
    assert set(mesh_requests[-4:].endpoints()) == {bed.address(good)}


# -- the sync client meets the same faults ------------------------------------------------------


@NETWORKS
def test_sync_client_meets_every_request_fault_alike(
    inmesh_mesh: Make, mesh_faults: FaultPlan, mesh_requests: Requests, network: str
) -> None:
    config = vs("  - timeout: 0.3s\n    route: [{destination: {host: backend}}]")
    bed = inmesh_mesh(config, workloads={"backend": app(body_bytes=100)}, network=network)
    with bed.sync_client() as c:
        with mesh_faults.delay("backend", seconds=5):
            assert c.get("http://backend/").status_code == 504
        with mesh_faults.reset_before_headers("backend"):
            assert c.get("http://backend/").status_code == 503
        with mesh_faults.abort("backend", status=502):
            assert c.get("http://backend/").status_code == 502
        with (
            mesh_faults.reset_mid_body("backend", after_bytes=10),
            pytest.raises(httpx.RemoteProtocolError),
        ):
            c.get("http://backend/")
        with mesh_faults.stall("backend", after_bytes=10), pytest.raises(httpx.ReadTimeout):
            c.get("http://backend/")
        with mesh_faults.slow_body("backend", chunk_bytes=25, seconds_per_chunk=0.001):
            assert c.get("http://backend/").content == b"x" * 100
    assert [sorted(r.flags) for r in mesh_requests[:3]] == [["UT"], ["UC"], []]


async def test_injected_tls_failure_matches_a_real_handshake_failure(
    inmesh_mesh: Make, mesh_faults: FaultPlan, mesh_requests: Requests
) -> None:
    # real: the DestinationRule says TLS, the server speaks plain HTTP
    tls = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: backend}
spec:
  host: backend
  trafficPolicy: {tls: {mode: SIMPLE}}
"""
    real_bed = inmesh_mesh(tls, workloads={"backend": app()}, network="tcp")
    async with real_bed.client() as c:
        await c.get("http://backend/")
    bed = inmesh_mesh(workloads={"backend": app()})
    mesh_faults.tls_failure("backend")
    async with bed.client() as c:
        await c.get("http://backend/")
    real_record, injected = mesh_requests[0].record, mesh_requests[1].record
    assert (
        shape(injected)[:4]
        == shape(real_record)[:4]
        == (
            503,
            "UF,URX",
            3,
            "upstream_reset_before_response_started{connection_failure}",
        )
    )
    assert shape(injected)[4].startswith("TLS error") and shape(real_record)[4].startswith(
        "TLS error"
    )
