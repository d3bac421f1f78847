"""Failover: one of 3 endpoints is SIGKILLed while requests flow through the mesh.

    .venv/bin/python benchmarks/failover.py [--quick] [--trials 3] [--duration 5]
                                            [--kill-at 1.5] [--concurrency 1,4]
                                            [--retry-on RETRY_ON]

Each endpoint is its own server process on 127.0.0.1 (``_server.py``), so one can be killed.
The mesh has Istio's default retry policy (no VirtualService: 2 retries on connect-failure,
refused-stream, unavailable, cancelled; a request that reached the application is never
sent twice), Istio's default LEAST_REQUEST balancing, and a DestinationRule
``outlierDetection`` of consecutive5xxErrors 5, interval 1s, baseEjectionTime 30s,
maxEjectionPercent 100 (connection failures count as 5xx, since
``splitExternalLocalOriginErrors`` is off). ``--retry-on`` adds a VirtualService with
``retries: {attempts: 2, retryOn: RETRY_ON}`` instead, to compare (e.g. ``reset,5xx``).

For each trial and each ``--concurrency`` value, that many asyncio tasks send GETs one after
another for ``--duration`` seconds; a timer thread SIGKILLs endpoint 0 at ``--kill-at`` s.
Reported per trial:

- ``failed``: requests the application saw fail (any status but 200, or an exception);
  the goal is 0. Each is listed by status and response flags, and by whether it was
  already in flight when the kill came (it started before the killed process was gone;
  Istio's default policy does not retry a reset after the request was sent, so Envoy and
  inmesh answer 503 UC) or started after.
- ``to ejection``: time from the SIGKILL to the moment the mesh's outlier detector first
  reports the dead endpoint ejected (``is_ejected`` polled after every response, so the
  resolution is one request, about 1 ms), and how many requests completed in between.
- ``retries``: extra attempts (``RequestRecord.attempts - 1``, from the RequestRecord hook)
  of the requests started before and after the ejection (after: should be 0; requests
  started after the ejection that still ended on the dead endpoint are listed too).
- latency: p50 over the whole run and the slowest request between kill and ejection.

``--quick``: 1 trial of 2.5 s, kill at 1 s, both concurrencies.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from dataclasses import dataclass, field

import httpx
from _common import (
    Doc,
    Servers,
    destination_rule,
    machine,
    pct,
    service_entry,
    table,
    virtual_service,
    workload_entries,
)

import inmesh
from inmesh.resilience import OutlierDetector

URL = "http://bench/"
OUTLIER_DETECTION: Doc = {
    "consecutive5xxErrors": 5,
    "interval": "1s",
    "baseEjectionTime": "30s",
    "maxEjectionPercent": 100,
}
VICTIM = 0


def mesh_config(ports: list[int], retry_on: str | None) -> list[Doc]:
    docs = [
        service_entry(),
        destination_rule({"outlierDetection": OUTLIER_DETECTION}),
        *workload_entries(ports),
    ]
    if retry_on:
        docs.append(
            virtual_service(
                [
                    {
                        "retries": {"attempts": 2, "retryOn": retry_on},
                        "route": [{"destination": {"host": "bench"}}],
                    }
                ]
            )
        )
    return docs


@dataclass
class Trial:
    """What one trial saw."""

    concurrency: int
    requests: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    kill_sent_at: float | None = None  # just before SIGKILL
    killed_at: float | None = None  # once the process is gone
    ejected_at: float | None = None
    ejected_at_end: bool = False
    requests_to_ejection: int = 0
    slowest_in_failover: float = 0.0
    retries_before_ejection: int = 0
    retries_after_ejection: int = 0
    dead_final_after_ejection: int = 0

    def fail(self, what: str) -> None:
        self.failures[what] = self.failures.get(what, 0) + 1


async def one_trial(
    concurrency: int, duration: float, kill_at: float, retry_on: str | None
) -> Trial:
    trial = Trial(concurrency)
    records: list[tuple[float, inmesh.RequestRecord]] = []
    with Servers([0.0, 0.0, 0.0], process_per_endpoint=True) as servers:
        mesh = inmesh.Mesh(service="bench-client", config=mesh_config(servers.ports, retry_on))
        cluster = mesh.snapshot.clusters[("bench.default.svc.cluster.local", None, 80)]
        outlier = cluster.state.outlier
        assert outlier is not None
        victim = servers.key(VICTIM)

        def kill() -> None:
            trial.kill_sent_at = time.monotonic()
            servers.kill(VICTIM)  # returns once the process is gone (its sockets closed)
            trial.killed_at = time.monotonic()

        async with mesh.client() as client:
            for _ in range(30 * concurrency):  # warm every endpoint's connections
                (await client.get(URL)).raise_for_status()
            mesh.add_hook(lambda rec: records.append((time.monotonic(), rec)))
            start = time.monotonic()
            end = start + duration
            timer = threading.Timer(kill_at, kill)
            timer.start()
            try:
                await asyncio.gather(
                    *(worker(client, trial, end, outlier, victim) for _ in range(concurrency))
                )
            finally:
                timer.cancel()
                timer.join()
            trial.ejected_at_end = outlier.is_ejected(victim, time.monotonic())
    account(trial, records, victim)
    return trial


async def worker(
    client: httpx.AsyncClient, trial: Trial, end: float, outlier: OutlierDetector, victim: str
) -> None:
    clock = time.monotonic
    while True:
        t0 = clock()
        if t0 >= end:
            return
        failure = ""
        try:
            r = await client.get(URL)
            if r.status_code != 200:
                failure = f"{r.status_code} {r.headers.get(inmesh.FLAGS_HEADER, '')}".strip()
        except httpx.HTTPError as exc:
            failure = type(exc).__name__
        t1 = clock()
        sent, gone = trial.kill_sent_at, trial.killed_at
        if failure:
            if sent is None:
                when = "before the kill"
            elif gone is None or t0 < gone:
                when = "in flight at the kill"
            else:
                when = "after the kill"
            trial.fail(f"{failure} ({when})")
        trial.requests += 1
        trial.latencies.append(t1 - t0)
        if sent is not None and trial.ejected_at is None and t1 >= sent:
            trial.slowest_in_failover = max(trial.slowest_in_failover, t1 - t0)
            trial.requests_to_ejection += 1
            if outlier.is_ejected(victim, t1):
                trial.ejected_at = t1


def account(trial: Trial, records: list[tuple[float, inmesh.RequestRecord]], victim: str) -> None:
    """Retries of requests started before/after ejection, and requests started after it that
    still ended on the dead endpoint."""
    ejected = trial.ejected_at if trial.ejected_at is not None else float("inf")
    for done, rec in records:
        extra = max(0, rec.attempts - 1)
        if done - rec.duration <= ejected:
            trial.retries_before_ejection += extra
        else:
            trial.retries_after_ejection += extra
            if rec.destination_endpoint == victim:
                trial.dead_final_after_ejection += 1


def report(trials: list[Trial], *, duration: float, kill_at: float, retry_on: str | None) -> int:
    policy = f"retries {{attempts: 2, retryOn: {retry_on}}}" if retry_on else "Istio default"
    print(
        f"3 endpoints (one process each), endpoint 0 SIGKILLed at {kill_at:g} s of {duration:g} s;"
        f" retry policy: {policy}; outlierDetection consecutive5xxErrors 5, interval 1s,"
        " baseEjectionTime 30s, maxEjectionPercent 100"
    )
    print(f"machine: {machine()}")
    header = [
        "trial",
        "in flight",
        "requests",
        "failed",
        "to ejection (ms)",
        "requests to ejection",
        "retries (started before/after ejection)",
        "p50 (ms)",
        "slowest in failover (ms)",
        "ejected at end",
    ]
    rows = []
    for n, t in enumerate(trials, 1):
        to_ejection = (
            f"{(t.ejected_at - t.kill_sent_at) * 1e3:.1f}"
            if t.ejected_at is not None and t.kill_sent_at is not None
            else "never"
        )
        rows.append(
            [
                n,
                t.concurrency,
                t.requests,
                sum(t.failures.values()),
                to_ejection,
                t.requests_to_ejection,
                f"{t.retries_before_ejection}/{t.retries_after_ejection}",
                f"{pct(t.latencies, 0.5) * 1e3:.2f}",
                f"{t.slowest_in_failover * 1e3:.1f}",
                "yes" if t.ejected_at_end else "no",
            ]
        )
    print(table(header, rows))
    failed = sum(sum(t.failures.values()) for t in trials)
    for n, t in enumerate(trials, 1):
        if t.failures:
            print(f"trial {n} failures: {t.failures}")
        if t.dead_final_after_ejection:
            print(f"trial {n}: {t.dead_final_after_ejection} requests ended on the dead endpoint")
    total = sum(t.requests for t in trials)
    verdict = "goal met" if failed == 0 else "GOAL MISSED"
    print(f"failed requests seen by the application: {failed} of {total} ({verdict}: goal 0)")
    return 0


async def run(
    trials: int, concurrencies: list[int], duration: float, kill_at: float, retry_on: str | None
) -> list[Trial]:
    out = []
    for _ in range(trials):
        for c in concurrencies:
            out.append(await one_trial(c, duration, kill_at, retry_on))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--duration", type=float, default=5.0, help="seconds of traffic per trial")
    ap.add_argument("--kill-at", type=float, default=1.5, help="seconds into the traffic")
    ap.add_argument("--concurrency", default="1,4", help="requests in flight, comma-separated")
    ap.add_argument("--retry-on", default=None, help="use retries {attempts: 2, retryOn: X}")
    ap.add_argument("--quick", action="store_true", help="1 trial of 2.5 s, kill at 1 s")
    a = ap.parse_args()
    trials, duration, kill_at = (1, 2.5, 1.0) if a.quick else (a.trials, a.duration, a.kill_at)
    concurrencies = [int(c) for c in a.concurrency.split(",")]
    results = asyncio.run(run(trials, concurrencies, duration, kill_at, a.retry_on))
    sys.exit(report(results, duration=duration, kill_at=kill_at, retry_on=a.retry_on))


if __name__ == "__main__":
    main()
