"""Locality-aware load balancing end to end: real uvicorn servers on 127.0.0.1 standing in
for workloads in several localities (WorkloadEntry ``locality``), a Mesh in
``us-east/zone1/sub1``, and Istio's ``localityLbSetting``.

Istio's rules: with outlier detection configured (and only then) traffic stays in the
client's locality while it is healthy and fails over by priority (same zone, same region,
the ``failover`` target region, any other region); ``distribute`` splits by weight
whatever the health checking.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

import inmesh
from inmesh.resilience import DEFAULT_RETRY_POLICY, LocalFailure, RetryState, Step
from tests.servers import Recorder, RunningServer, behaviour_app, start_server

pytestmark = pytest.mark.anyio

CLIENT_LOCALITY = "us-east/zone1/sub1"
HOST = "backend.default.svc.cluster.local"

# name -> locality; two endpoints share the client's own locality
LOCALITIES = {
    "a1": "us-east/zone1/sub1",
    "a2": "us-east/zone1/sub1",
    "b": "us-east/zone2/sub1",
    "c": "eu-west/zone1/sub1",
    "d": "us-west/zone1/sub1",
}

OUTLIER = """
    outlierDetection:
      consecutive5xxErrors: 2
      interval: 100ms
      baseEjectionTime: 5s
      maxEjectionPercent: 100
"""


class Fleet:
    """One behaviour server per locality entry, each with its own request recorder."""

    def __init__(self) -> None:
        self.recorders = {name: Recorder() for name in LOCALITIES}
        self.servers: dict[str, RunningServer] = {
            name: start_server(behaviour_app(name, rec)) for name, rec in self.recorders.items()
        }

    def stop(self, *names: str) -> None:
        for name in names:
            self.servers[name].stop()

    def counts(self) -> dict[str, int]:
        return {name: rec.total() for name, rec in self.recorders.items()}

    def reset(self) -> None:
        for rec in self.recorders.values():
            rec.count.clear()

    def config(
        self, tmp_path: Path, names: list[str], *, locality: str = "", outlier: bool = False
    ) -> Path:
        """ServiceEntry + DestinationRule (round robin, ``locality`` as its
        localityLbSetting, OUTLIER when asked) + a WorkloadEntry per name."""
        docs = [
            f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: backend}}
spec:
  hosts: [{HOST}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  workloadSelector: {{labels: {{app: backend}}}}
""",
            f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: backend}}
spec:
  host: backend
  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBIN
{locality}{OUTLIER if outlier else ""}""",
        ]
        for name in names:
            docs.append(f"""
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: backend-{name}}}
spec:
  address: 127.0.0.1
  ports: {{http: {self.servers[name].port}}}
  labels: {{app: backend, instance: {name}}}
  locality: {LOCALITIES[name]}
""")
        path = tmp_path / "mesh.yaml"
        path.write_text("\n---\n".join(docs))
        return path


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    f = Fleet()
    yield f
    for s in f.servers.values():  # ask every server to exit, then wait for them together
        s.server.should_exit = True
    for s in f.servers.values():
        s.thread.join(timeout=10)


def mesh(config: Path) -> inmesh.Mesh:
    return inmesh.Mesh(service="client", locality=CLIENT_LOCALITY, config=config)


async def send(m: inmesh.Mesh, n: int) -> list[int]:
    async with m.client() as c:
        return [(await c.get("http://backend/")).status_code for _ in range(n)]


async def test_traffic_stays_local_while_healthy_then_fails_over_by_priority(
    fleet: Fleet, tmp_path: Path
) -> None:
    m = mesh(fleet.config(tmp_path, ["a1", "a2", "b", "c"], outlier=True))
    async with m:
        assert await send(m, 40) == [200] * 40
        counts = fleet.counts()
        assert counts["a1"] + counts["a2"] == 40, counts  # the client's own locality
        assert counts["a1"] > 0 and counts["a2"] > 0
        assert counts["b"] == counts["c"] == 0

        # One of the two local endpoints dies. Istio's default retry policy retries the
        # connect failures on another host, so the app sees none; once it is ejected the
        # locality is 1/2 healthy, below Envoy's 1/1.4 overprovisioning threshold, so
        # about 30% of the traffic spills over to the next priority (same region, next
        # zone), none to the other region.
        fleet.stop("a1")
        fleet.reset()
        assert await send(m, 60) == [200] * 60
        counts = fleet.counts()
        assert counts["a2"] > 0 and counts["b"] > 0, counts
        assert counts["c"] == 0

        # The whole locality is down: everything goes to the next priority.
        fleet.stop("a2")
        fleet.reset()
        assert await send(m, 40) == [200] * 40
        counts = fleet.counts()
        assert counts["b"] == 40, counts
        assert counts["c"] == 0  # another region only after that

        fleet.stop("b")
        fleet.reset()
        assert await send(m, 20) == [200] * 20
        assert fleet.counts()["c"] == 20


def test_a_retry_avoids_every_host_already_tried() -> None:
    """A request's third attempt (Istio's default policy: 2 retries, previous hosts
    avoided) never goes back to a host an earlier attempt failed on: the cached exclusion
    set is dropped whenever another host is tried."""
    state = RetryState(DEFAULT_RETRY_POLICY)
    ejected: frozenset[str] = frozenset()  # nothing ejected yet: the same object each time
    for host in ("a1", "a2"):
        state.sent_to(host)
        assert state.decide(LocalFailure.CONNECT_FAILURE, now=0.0) is Step.RETRY
        assert host in state.excluding(ejected)


async def test_without_outlier_detection_there_is_no_locality_failover(
    fleet: Fleet, tmp_path: Path
) -> None:
    # Istio: "failover needs outlier detection, otherwise Envoy will never drop down to a
    # lower priority": every endpoint takes its share.
    m = mesh(fleet.config(tmp_path, ["a1", "a2", "b", "c"]))
    async with m:
        assert await send(m, 40) == [200] * 40
    assert fleet.counts() == {"a1": 10, "a2": 10, "b": 10, "c": 10, "d": 0}


def within_binomial(count: int, n: int, p: float, sigmas: float = 5.0) -> bool:
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


async def test_distribute_splits_by_locality_weight(fleet: Fleet, tmp_path: Path) -> None:
    setting = """\
      localityLbSetting:
        distribute:
        - from: us-east/zone1/*
          to:
            "us-east/zone1/*": 80
            "us-east/zone2/*": 20
"""
    m = mesh(fleet.config(tmp_path, ["a1", "a2", "b", "c"], locality=setting))
    n = 500
    async with m:
        assert await send(m, n) == [200] * n
    counts = fleet.counts()
    assert counts["c"] == 0, counts  # a locality no `to` entry names gets nothing
    assert counts["a1"] + counts["a2"] + counts["b"] == n
    assert within_binomial(counts["a1"] + counts["a2"], n, 0.8), counts
    assert counts["a1"] > 0 and counts["a2"] > 0


async def test_failover_to_the_named_region(fleet: Fleet, tmp_path: Path) -> None:
    setting = """\
      localityLbSetting:
        failover:
        - {from: us-east, to: eu-west}
"""
    m = mesh(fleet.config(tmp_path, ["a1", "c", "d"], locality=setting, outlier=True))
    async with m:
        assert await send(m, 20) == [200] * 20
        assert fleet.counts()["a1"] == 20
        fleet.stop("a1")
        fleet.reset()
        assert await send(m, 40) == [200] * 40
    counts = fleet.counts()
    assert counts["c"] == 40, counts  # eu-west, the failover target, before us-west
    assert counts["d"] == 0


async def test_other_regions_share_the_load_without_a_failover_rule(
    fleet: Fleet, tmp_path: Path
) -> None:
    m = mesh(fleet.config(tmp_path, ["a1", "c", "d"], outlier=True))
    async with m:
        fleet.stop("a1")
        assert await send(m, 40) == [200] * 40
    counts = fleet.counts()
    assert counts["c"] + counts["d"] == 40 and counts["c"] > 0 and counts["d"] > 0, counts
