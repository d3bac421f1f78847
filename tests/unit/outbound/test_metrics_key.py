"""The outbound path counts a call in a lone MetricsHook by the call's own key, making a
record only the first time: the series must be exactly those the records make."""

from __future__ import annotations

import dataclasses
import textwrap
from typing import Any

import httpcore
import httpx
import yaml

import inmesh
from inmesh.outbound._call import Call
from inmesh.outbound._driver import steps
from inmesh.outbound._route import RouteTier
from inmesh.telemetry import MetricsHook, RequestRecord
from inmesh.telemetry._exchange import exchange_headers
from inmesh.telemetry._policy import MetricOverride, ModeMetrics

from ._support import BACKEND, SUBSETS, run, state

PEER = b"x-envoy-peer-metadata"


def _mesh(hook: MetricsHook, *, recorder: bool) -> tuple[inmesh.Mesh, list[RequestRecord]]:
    docs = [d for d in yaml.safe_load_all(BACKEND + textwrap.dedent(SUBSETS)) if d]
    m = inmesh.Mesh(service="frontend", config=docs, metrics=False)
    m.add_hook(hook)
    records: list[RequestRecord] = []
    if recorder:  # a second hook: every call gets its record
        m.add_hook(records.append)
    return m, records


def _traffic(m: inmesh.Mesh, peer_value: bytes) -> None:
    """Calls of several label sets, each label set more than once."""
    cases: list[tuple[dict[str, str], int, list[tuple[bytes, bytes]], str]] = [
        ({}, 200, [], ""),
        ({"end-user": "jason"}, 200, [], ""),
        ({}, 503, [], "URX"),
        ({"content-type": "application/grpc"}, 200, [(b"grpc-status", b"14")], ""),
        ({}, 200, [(PEER, peer_value)], ""),
    ]
    for _ in range(3):
        for headers, status, answer, flags in cases:
            call, _ = RouteTier(state(m)).start(
                httpx.Request("POST", "http://backend/x", headers=headers, content=b"abc")
            )
            assert isinstance(call, Call)
            answers = [httpcore.Response(status, headers=answer) for _ in range(3)]
            final, _ = run(steps(call), answers)  # (a 503 is retried by default)
            assert isinstance(final, httpcore.Response) and final.status == status
            call.response_headers(answer)
            if answer and answer[0][0] == b"grpc-status":
                call.grpc_status = "14"
            call.response_bytes = 5
            call.finish(status, flags)


def _series(hook: MetricsHook) -> dict[tuple[str, ...], tuple[int, int, int]]:
    return {values: (s.count, s.req_sum, s.resp_sum) for values, s in hook.snapshot()}


def _peer_value() -> bytes:
    headers = exchange_headers(
        workload="backend-v1",
        namespace="default",
        labels={"app": "backend", "version": "v1"},
        service_account="backend",
        address="127.0.0.1",
        trust_domain="cluster.local",
    )
    return dict(headers)[PEER]


def test_the_keyed_count_makes_the_series_the_records_make() -> None:
    keyed, by_record = MetricsHook(), MetricsHook()
    m1, _ = _mesh(keyed, recorder=False)
    m2, records = _mesh(by_record, recorder=True)
    peer = _peer_value()
    _traffic(m1, peer)
    _traffic(m2, peer)
    assert len(records) == 15  # the second mesh went through records
    got, want = _series(keyed), _series(by_record)
    assert got == want
    assert len(want) == 5 and all(count == 3 for count, _, _ in want.values())
    # a record was made once per label set, the other calls counted by the key
    assert len(keyed._known) == 5 and not by_record._known


def test_a_telemetry_override_sends_every_call_through_its_record() -> None:
    hook = MetricsHook()
    m, _ = _mesh(hook, recorder=False)
    seen: list[Any] = []
    observe = hook._overrides.observe

    def spy(rec: RequestRecord, settings: ModeMetrics) -> None:
        seen.append(rec)
        observe(rec, settings)

    hook._overrides.observe = spy  # type: ignore[method-assign]
    state(m).telemetry = dataclasses.replace(
        state(m).telemetry,
        client_metrics=ModeMetrics(overrides={"REQUEST_COUNT": MetricOverride(disabled=True)}),
    )
    _traffic(m, _peer_value())
    assert len(seen) == 15 and not hook._known
