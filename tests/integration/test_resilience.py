"""Timeouts, retries, pool limits, outlier detection, fault injection and mirroring against
real uvicorn servers on 127.0.0.1; the tests that need no real socket use inmesh.testing's
fixtures (workloads in memory)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import inmesh
from inmesh.testing import Requests, Sandbox, Workload, workload
from tests.servers import Recorder, behaviour_app, start_server

pytestmark = pytest.mark.anyio


class Backends:
    """Three endpoints of service `backend`, each a real server with its own recorder."""

    def __init__(self, n: int = 3) -> None:
        self.recorders = [Recorder() for _ in range(n)]
        self.servers = [
            start_server(behaviour_app(f"b{i}", r)) for i, r in enumerate(self.recorders)
        ]

    def restart(self, i: int) -> None:
        port = self.servers[i].port
        self.servers[i] = start_server(behaviour_app(f"b{i}", self.recorders[i]), port=port)

    def yaml(self) -> str:
        return service_entry("backend", *(s.port for s in self.servers))


@pytest.fixture
def backends() -> Iterator[Backends]:
    b = Backends()
    yield b
    for s in b.servers:
        s.stop()


def mesh(tmp_path: Path, *docs: str) -> inmesh.Mesh:
    p = tmp_path / "mesh.yaml"
    p.write_text("\n---\n".join(docs))
    return inmesh.Mesh(service="client", config=p)


def service_entry(name: str, *ports: int) -> str:
    """A ServiceEntry for ``name`` with one STATIC endpoint per server port."""
    eps = "".join(f"  - {{address: 127.0.0.1, ports: {{http: {p}}}}}\n" for p in ports)
    return f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {name}}}
spec:
  hosts: [{name}.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints:
{eps}"""


def vs(http: str) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: backend}}
spec:
  hosts: [backend]
  http:
{http}"""


def dr(policy: str) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: backend}}
spec:
  host: backend
  trafficPolicy:
{policy}"""


def in_memory(recorder: Recorder) -> list[Workload]:
    """Three replicas of service ``backend`` in memory (inmesh.testing), one recorder."""
    return [workload(behaviour_app("b", recorder), service="backend", replicas=3)]


async def test_retry_on_5xx_hides_every_third_failure(
    inmesh_mesh: Callable[..., Sandbox], mesh_requests: Requests
) -> None:
    recorder = Recorder()
    bed = inmesh_mesh(
        [
            vs(
                "  - retries: {attempts: 3, retryOn: 5xx}\n"
                "    route: [{destination: {host: backend}}]"
            ),
            dr("    loadBalancer: {simple: ROUND_ROBIN}"),
        ],
        workloads=in_memory(recorder),
    )
    async with bed.client() as c:
        statuses = Counter(
            [(await c.get("http://backend/every-third")).status_code for _ in range(90)]
        )
    assert statuses == {200: 90}
    assert recorder.count["/every-third"] > 90  # retries happened
    assert mesh_requests.retried() and max(r.attempts for r in mesh_requests) >= 2


async def test_default_policy_never_repeats_a_request_the_app_answered(
    inmesh_mesh: Callable[..., Sandbox], mesh_requests: Requests
) -> None:
    recorder = Recorder()
    bed = inmesh_mesh(workloads=in_memory(recorder))  # Istio's default retry policy
    async with bed.client() as c:
        r = await c.post("http://backend/status/503", json={"order": 1})
    assert r.status_code == 503 and inmesh.FLAGS_HEADER not in r.headers
    assert recorder.count["/status/503"] == 1 and not mesh_requests.sent_twice("POST")


async def test_killed_endpoint_is_retried_ejected_and_readmitted(
    backends: Backends, tmp_path: Path
) -> None:
    m = mesh(
        tmp_path,
        backends.yaml(),
        dr(
            "    loadBalancer: {simple: ROUND_ROBIN}\n"
            "    outlierDetection:\n"
            "      consecutive5xxErrors: 5\n"
            "      interval: 100ms\n"
            "      baseEjectionTime: 1s\n"
            "      maxEjectionPercent: 100\n"
        ),
    )
    dead_key = f"127.0.0.1:{backends.servers[0].port}"
    async with m.client() as c:
        for _ in range(30):
            assert (await c.get("http://backend/")).status_code == 200
        backends.servers[0].stop()
        failures = 0
        for _ in range(60):  # traffic flows on while the endpoint is down
            failures += (await c.get("http://backend/")).status_code != 200
        assert failures == 0  # Istio's default policy retries connect failures elsewhere
        cluster = m.snapshot.clusters[("backend.default.svc.cluster.local", None, 80)]
        outlier = cluster.state.outlier
        assert outlier is not None and outlier.is_ejected(dead_key, time.monotonic())
        before = backends.recorders[0].total()
        backends.restart(0)
        deadline = time.monotonic() + 10
        while backends.recorders[0].total() == before and time.monotonic() < deadline:
            assert (await c.get("http://backend/")).status_code == 200
            await asyncio.sleep(0.05)
        assert backends.recorders[0].total() > before  # back in rotation after ejection time
        assert not outlier.is_ejected(dead_key, time.monotonic())


async def test_route_timeout_answers_504_ut(backends: Backends, tmp_path: Path) -> None:
    m = mesh(
        tmp_path,
        backends.yaml(),
        vs(
            "  - timeout: 200ms\n    retries: {attempts: 0}\n"
            "    route: [{destination: {host: backend}}]"
        ),
    )
    records: list[inmesh.RequestRecord] = []
    m.add_hook(records.append)
    async with m.client() as c:
        r = await c.get("http://backend/slow/2000")
    assert (r.status_code, r.text, r.headers[inmesh.FLAGS_HEADER]) == (
        504,
        "upstream request timeout",
        "UT",
    )
    # the mesh answered while the backend was still working on it: the route's timeout
    assert sum(rec.answered.get("/slow/2000", 0) for rec in backends.recorders) == 0
    assert sum(rec.count.get("/slow/2000", 0) for rec in backends.recorders) == 1
    assert records[0].details == "response_timeout"


async def test_per_try_timeout_retries_on_another_endpoint(tmp_path: Path) -> None:
    slow_rec, fast_rec = Recorder(), Recorder()
    slow = start_server(behaviour_app("slow", slow_rec, delay=2.0))
    fast = start_server(behaviour_app("fast", fast_rec))
    try:
        se = service_entry("backend", slow.port, fast.port)
        route = vs(
            "  - retries: {attempts: 2, perTryTimeout: 200ms, retryOn: 5xx}\n"
            "    route: [{destination: {host: backend}}]"
        )
        m = mesh(tmp_path, se, route, dr("    loadBalancer: {simple: ROUND_ROBIN}"))
        async with m.client() as c:
            answered = Counter(
                [(await c.get("http://backend/")).json()["server"] for _ in range(6)]
            )
        assert answered == {"fast": 6}
        assert slow_rec.total() >= 3  # round robin sent first tries there; they timed out
    finally:
        slow.stop()
        fast.stop()


async def test_pool_limit_answers_uo_without_waiting(backends: Backends, tmp_path: Path) -> None:
    m = mesh(
        tmp_path,
        backends.yaml(),
        dr(
            "    connectionPool:\n"
            "      tcp: {maxConnections: 1}\n"
            "      http: {http1MaxPendingRequests: 1}\n"
        ),
    )
    async with m.client() as c:
        slow = [asyncio.create_task(c.get("http://backend/slow/1000")) for _ in range(2)]
        await asyncio.sleep(0.2)
        r = await c.get("http://backend/")
        assert (r.status_code, r.headers[inmesh.FLAGS_HEADER]) == (503, "UO")
        # answered at once: both requests holding the pool are still in flight
        assert not any(t.done() for t in slow)
        assert [(await t).status_code for t in slow] == [200, 200]


async def test_fault_percentages(inmesh_mesh: Callable[..., Sandbox]) -> None:
    bed = inmesh_mesh(
        [
            vs(
                "  - match: [{uri: {prefix: /half}}]\n"
                "    fault: {abort: {httpStatus: 418, percentage: {value: 50}}}\n"
                "    route: [{destination: {host: backend}}]\n"
                "  - match: [{uri: {prefix: /unset}}]\n"
                "    fault: {abort: {httpStatus: 418}}\n"
                "    route: [{destination: {host: backend}}]\n"
                "  - fault: {delay: {fixedDelay: 50ms, percentage: {value: 100}}}\n"
                "    route: [{destination: {host: backend}}]"
            )
        ],
        workloads=in_memory(Recorder()),
    )
    async with bed.client() as c:
        half = Counter([(await c.get("http://backend/half")).status_code for _ in range(200)])
        assert set(half) == {200, 418} and 60 < half[418] < 140
        unset = Counter([(await c.get("http://backend/unset")).status_code for _ in range(50)])
        assert unset == {200: 50}  # Istio: an unset percentage injects nothing
        r = await c.get("http://backend/delayed")
        assert r.status_code == 200 and r.headers[inmesh.FLAGS_HEADER] == "DI"


async def test_mirror_copies_are_shadowed_and_never_slow_the_original(
    backends: Backends, tmp_path: Path
) -> None:
    shadow_rec = Recorder()
    shadow = start_server(behaviour_app("shadow", shadow_rec, delay=1.0))
    try:
        mirror_se = service_entry("shadow", shadow.port)
        route = vs("  - route: [{destination: {host: backend}}]\n    mirror: {host: shadow}\n")
        m = mesh(tmp_path, backends.yaml(), mirror_se, route)
        async with m.client() as c:
            for _ in range(5):
                r = await c.get("http://backend/status/201")
                assert r.status_code == 201 and r.json()["server"].startswith("b")
            # five answers while each copy takes 1 s at the shadow: copies never block
            assert shadow_rec.answered.get("/status/201", 0) < 5
            deadline = time.monotonic() + 5
            while shadow_rec.total() < 5 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        assert shadow_rec.count == {"/status/201": 5}
        assert set(shadow_rec.hosts) == {"backend-shadow"}
    finally:
        shadow.stop()


def test_sync_client_retries_and_times_out(tmp_path: Path) -> None:
    slow_rec, fast_rec = Recorder(), Recorder()
    slow = start_server(behaviour_app("slow", slow_rec, delay=2.0))
    fast = start_server(behaviour_app("fast", fast_rec))
    try:
        se = service_entry("backend", slow.port, fast.port)
        route = vs(
            "  - match: [{uri: {prefix: /alone}}]\n"
            "    timeout: 300ms\n"
            "    retries: {attempts: 0}\n"
            "    route: [{destination: {host: backend}}]\n"
            "  - retries: {attempts: 2, perTryTimeout: 200ms, retryOn: 5xx}\n"
            "    route: [{destination: {host: backend}}]"
        )
        m = mesh(tmp_path, se, route, dr("    loadBalancer: {simple: ROUND_ROBIN}"))
        with m.sync_client() as c:
            answered = Counter(c.get("http://backend/").json()["server"] for _ in range(4))
            assert answered == {"fast": 4}
            codes = Counter(c.get("http://backend/alone").status_code for _ in range(4))
            assert codes == {200: 2, 504: 2}  # round robin: the slow endpoint's turns time out
    finally:
        slow.stop()
        fast.stop()


async def test_max_requests_per_connection_one_turns_keep_alive_off(
    backends: Backends, tmp_path: Path
) -> None:
    one = backends.recorders[0]
    only = service_entry("backend", backends.servers[0].port)
    plain = mesh(tmp_path, only)
    async with plain.client() as c:
        for _ in range(5):
            assert (await c.get("http://backend/")).status_code == 200
    assert len(set(one.client_ports)) == 1  # keep-alive: one connection
    one.client_ports.clear()
    limited = mesh(tmp_path, only, dr("    connectionPool: {http: {maxRequestsPerConnection: 1}}"))
    async with limited.client() as c:
        for _ in range(5):
            assert (await c.get("http://backend/")).status_code == 200
    assert len(set(one.client_ports)) == 5  # a new connection per request
    with pytest.raises(inmesh.ConfigError, match="maxRequestsPerConnection above 1") as err:
        mesh(tmp_path, only, dr("    connectionPool: {http: {maxRequestsPerConnection: 2}}"))
    assert "DestinationRule default/backend" in str(err.value)


async def test_resilience_state_survives_a_configuration_swap(
    backends: Backends, tmp_path: Path
) -> None:
    outlier = (
        "    outlierDetection:\n"
        "      consecutive5xxErrors: 1\n"
        "      baseEjectionTime: 30s\n"
        "      maxEjectionPercent: 100\n"
    )
    m = mesh(tmp_path, backends.yaml(), dr("    loadBalancer: {simple: ROUND_ROBIN}\n" + outlier))
    dead = backends.servers[0].port
    backends.servers[0].stop()
    async with m.client() as c:
        for _ in range(6):
            assert (await c.get("http://backend/")).status_code == 200
        cluster = m.snapshot.clusters[("backend.default.svc.cluster.local", None, 80)]
        assert cluster.state.outlier is not None
        assert cluster.state.outlier.is_ejected(f"127.0.0.1:{dead}", time.monotonic())
        m.apply_file(tmp_path / "mesh.yaml")  # the same configuration again: nothing rebuilt
        assert m.snapshot.clusters[("backend.default.svc.cluster.local", None, 80)] is cluster
        # another balancer, the same outlier detection: a new cluster, the same state
        changed = tmp_path / "changed.yaml"
        changed.write_text(
            backends.yaml() + "\n---\n" + dr("    loadBalancer: {simple: RANDOM}\n" + outlier)
        )
        m.apply_file(changed)
        again = m.snapshot.clusters[("backend.default.svc.cluster.local", None, 80)]
        assert again is not cluster and again.state is cluster.state  # Envoy keeps it too
        for _ in range(6):
            assert (await c.get("http://backend/")).status_code == 200
    assert backends.recorders[0].total() == 0


async def test_the_applications_request_is_never_modified(
    backends: Backends, tmp_path: Path
) -> None:
    route = vs(
        "  - rewrite: {authority: internal.example}\n"
        "    headers: {request: {remove: [authorization], add: {x-added: mesh}}}\n"
        "    route: [{destination: {host: backend}}]"
    )
    m = mesh(tmp_path, backends.yaml(), route)
    async with m.client() as c:
        req = c.build_request("GET", "http://backend/", headers={"authorization": "Bearer s"})
        for _ in range(2):
            assert (await c.send(req)).status_code == 200
    assert req.headers["host"] == "backend" and req.headers["authorization"] == "Bearer s"
    seen = [r for r in backends.recorders if r.hosts]
    assert {h for r in seen for h in r.hosts} == {"internal.example"}


async def test_a_cancelled_mirror_is_released_and_recorded(
    backends: Backends, tmp_path: Path
) -> None:
    shadow_rec = Recorder()
    shadow = start_server(behaviour_app("shadow", shadow_rec, delay=3.0))
    try:
        route = vs("  - route: [{destination: {host: backend}}]\n    mirror: {host: shadow}\n")
        m = mesh(tmp_path, backends.yaml(), service_entry("shadow", shadow.port), route)
        records: list[inmesh.RequestRecord] = []
        m.add_hook(records.append)
        async with m.client() as c:
            assert (await c.get("http://backend/")).status_code == 200
            await asyncio.sleep(0.2)
        # closing the client cancelled the copy still waiting on the shadow
        assert m.active.get(f"127.0.0.1:{shadow.port}") == 0
        shadow_records = [r for r in records if "shadow" in r.cluster]
        assert len(shadow_records) == 1 and shadow_records[0].response_flags == "DC"
    finally:
        shadow.stop()
