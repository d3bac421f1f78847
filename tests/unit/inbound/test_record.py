"""The destination-side record builder (``inbound/_record.py``): every field by name, and
the per-workload caches it keeps (peer principals, decisions, the certificate in force)."""

from __future__ import annotations

import dataclasses
from typing import Any

import inmesh
from inmesh.inbound import Peer
from inmesh.inbound._record import InboundRecorder
from inmesh.security import Decision
from inmesh.telemetry import RequestRecord
from inmesh.telemetry._exchange import PeerMetadata

FRONT = Peer("cluster.local/ns/shop/sa/front", "shop", "front", "cluster.local")
SOURCE = PeerMetadata(
    workload="front-v1", namespace="other", labels={"app": "front"}, cluster="c1", name="f"
)
SCOPE: dict[str, Any] = {
    "type": "http",
    "method": "POST",
    "path": "/pay/42",
    "query_string": b"x=1",
    "http_version": "1.1",
    "headers": [(b"host", b"payments"), (b"content-type", b"application/grpc")],
    "server": ("127.0.0.1", 8080),
    "client": ("10.0.0.9", 50000),
}


def mesh_with_records() -> tuple[inmesh.Mesh, list[RequestRecord]]:
    mesh = inmesh.Mesh(
        service="payments", namespace="shop", labels={"app": "payments", "version": "v1"}
    )
    records: list[RequestRecord] = []
    mesh._state.hooks = (records.append,)
    return mesh, records


def emit(recorder: InboundRecorder, **overrides: Any) -> None:
    args: dict[str, Any] = {
        "peer": FRONT,
        "mtls": True,
        "decision": None,
        "status": 200,
        "response_bytes": 12,
        "start": 0.0,
        "source": SOURCE,
        "request_bytes": 3,
        "server_name": "outbound_.8080_._.payments.shop.svc.cluster.local",
        "grpc_status": "0",
        "content_type": b"application/grpc",
    }
    args.update(overrides)
    recorder.emit(SCOPE, **args)


def test_every_field_of_the_record_by_name() -> None:
    mesh, records = mesh_with_records()
    emit(InboundRecorder(mesh))
    (rec,) = records
    got = {f.name: getattr(rec, f.name) for f in dataclasses.fields(rec)}
    assert got.pop("duration") > 0 and got.pop("start_time") > 0
    assert got == {
        "source_service": "",
        "source_namespace": "shop",  # the certificate's, before the metadata's
        "source_version": "",
        "destination_service": "payments.shop.svc.cluster.local",
        "destination_subset": "",
        "destination_endpoint": "127.0.0.1:8080",
        "route_name": "default",
        "cluster": "inbound|8080||",
        "method": "POST",
        "path": "/pay/42",
        "status": 200,
        "response_flags": "-",
        "attempts": 1,
        "details": "via_upstream",
        "error": "",
        "reporter": "destination",
        "request_protocol": "grpc",
        "grpc_status": "0",
        "request_bytes": 3,
        "response_bytes": 12,
        "source_workload": "front-v1",
        "source_principal": "spiffe://cluster.local/ns/shop/sa/front",
        "source_labels": {"app": "front"},
        "source_cluster": "c1",
        "destination_workload": "payments-v1",
        "destination_namespace": "shop",
        "destination_principal": "",  # no certificate
        "destination_labels": {"app": "payments", "version": "v1"},
        "destination_cluster": "",
        "authorization": "",
        "connection_security_policy": "mutual_tls",
        # only while an access log or a Telemetry expression may read them
        "protocol": "",
        "query": "",
        "request_headers": {},
        "upstream_local_address": "",
        "downstream_local_address": "",
        "downstream_remote_address": "",
        "requested_server_name": "",
        "telemetry": mesh.telemetry,
    }
    # the same mapping objects as the workload's (the metrics hook caches by identity)
    assert rec.source_labels is SOURCE.labels and rec.destination_labels is mesh.labels


def test_plaintext_without_metadata_or_content_type() -> None:
    mesh, records = mesh_with_records()
    emit(InboundRecorder(mesh), peer=None, mtls=False, source=None, content_type=None)
    (rec,) = records
    assert (rec.source_namespace, rec.source_principal, rec.source_workload) == ("", "", "")
    assert rec.connection_security_policy == "none" and rec.request_protocol == "http"
    assert rec.source_labels == {} and rec.source_cluster == ""


def test_decisions_give_authorization_and_details_each_time() -> None:
    mesh, records = mesh_with_records()
    recorder = InboundRecorder(mesh)
    allow = Decision(True, "shop/p", "ALLOW")
    deny = Decision(False, "shop/d", "DENY")
    no_match = Decision(False, None, "DENY")
    for decision in (allow, deny, allow, no_match, deny):
        emit(recorder, decision=decision, status=200 if decision.allowed else 403)
    assert [(r.authorization, r.details) for r in records] == [
        ("ALLOW shop/p", "via_upstream"),
        ("DENY shop/d", "rbac_access_denied_matched_policy[shop/d]"),
        ("ALLOW shop/p", "via_upstream"),
        ("DENY -", "rbac_access_denied_matched_policy[none]"),
        ("DENY shop/d", "rbac_access_denied_matched_policy[shop/d]"),
    ]


def test_an_equal_peer_of_another_connection_gets_its_own_principal() -> None:
    mesh, records = mesh_with_records()
    recorder = InboundRecorder(mesh)
    other = Peer("td/ns/a/sa/b", "a", "b", "td")
    for peer in (FRONT, other, FRONT):
        emit(recorder, peer=peer)
    assert [r.source_principal for r in records] == [
        "spiffe://cluster.local/ns/shop/sa/front",
        "spiffe://td/ns/a/sa/b",
        "spiffe://cluster.local/ns/shop/sa/front",
    ]
    assert [r.source_namespace for r in records] == ["shop", "a", "shop"]


def test_the_connection_fields_when_an_access_log_may_read_them() -> None:
    mesh, records = mesh_with_records()
    mesh._state.full_records = True
    emit(InboundRecorder(mesh))
    (rec,) = records
    assert (rec.protocol, rec.query) == ("HTTP/1.1", "x=1")
    assert rec.downstream_local_address == "127.0.0.1:8080"
    assert rec.downstream_remote_address == "10.0.0.9:50000"
    assert rec.requested_server_name == "outbound_.8080_._.payments.shop.svc.cluster.local"
    assert rec.authority == "payments" and rec.request_headers["content-type"] == (
        "application/grpc"
    )


class _Identity:
    def __init__(self, uri: str) -> None:
        self.uri = uri


class _Current:
    def __init__(self, uri: str) -> None:
        self.identity = _Identity(uri)


class _Holder:
    """A TLSHolder's ``current()`` (renewed in place: a new object per certificate)."""

    def __init__(self, uri: str) -> None:
        self.now = _Current(uri)

    def current(self) -> _Current:
        return self.now


def test_the_destination_principal_follows_the_certificate_in_force() -> None:
    mesh, records = mesh_with_records()
    recorder = InboundRecorder(mesh)
    emit(recorder)
    holder = _Holder("spiffe://cluster.local/ns/shop/sa/payments")
    mesh._state.tls = holder  # type: ignore[assignment]
    emit(recorder)
    holder.now = _Current("spiffe://other/ns/shop/sa/payments")
    emit(recorder)
    assert [r.destination_principal for r in records] == [
        "",
        "spiffe://cluster.local/ns/shop/sa/payments",
        "spiffe://other/ns/shop/sa/payments",
    ]


def _counts(hook: Any) -> dict[tuple[str, ...], tuple[int, int, int, list[int], list[int]]]:
    return {
        labels: (s.count, s.req_sum, s.resp_sum, list(s.req), list(s.resp))
        for labels, s in hook.snapshot()
    }


def test_the_standard_metrics_alone_count_the_same_without_a_record_per_request() -> None:
    from inmesh.telemetry import MetricsHook

    other = Peer("cluster.local/ns/a/sa/b", "a", "b", "cluster.local")
    requests: list[dict[str, Any]] = [
        {},
        {"status": 503},
        {"peer": other, "source": None},
        {},
        {"peer": None, "mtls": False, "source": None, "content_type": None},
        {"grpc_status": "14", "request_bytes": 70000},
        {"status": 503},
        {"content_type": b"text/plain", "response_bytes": 0},
    ]
    fast_mesh, _ = mesh_with_records()
    fast = MetricsHook()
    fast_mesh._state.hooks = (fast,)  # the only hook: the record-free path
    slow_mesh, seen = mesh_with_records()
    slow = MetricsHook()
    slow_mesh._state.hooks = (slow, seen.append)  # another hook: a record each time
    fast_recorder = InboundRecorder(fast_mesh)
    slow_recorder = InboundRecorder(slow_mesh)
    for overrides in requests:
        emit(fast_recorder, **overrides)
        emit(slow_recorder, **overrides)
    assert len(seen) == len(requests)
    assert len(fast._known) == 6  # one entry per distinct label set
    assert _counts(fast) == _counts(slow)
    assert sum(c[0] for c in _counts(fast).values()) == len(requests)


def test_the_record_free_path_follows_hooks_policy_and_certificate_changes() -> None:
    from inmesh.telemetry import MetricsHook
    from inmesh.telemetry._policy import ModeMetrics, TelemetryPolicy

    mesh, records = mesh_with_records()
    hook = MetricsHook()
    mesh._state.hooks = (hook,)
    recorder = InboundRecorder(mesh)
    emit(recorder)
    holder = _Holder("spiffe://cluster.local/ns/shop/sa/payments")
    mesh._state.tls = holder  # type: ignore[assignment]
    emit(recorder)  # another destination principal: another series
    principals = sorted(labels[11] for labels in _counts(hook))
    assert principals == ["spiffe://cluster.local/ns/shop/sa/payments", "unknown"]
    holder.now = _Current("spiffe://other/ns/shop/sa/payments")  # renewed in place
    emit(recorder)
    principals = sorted(labels[11] for labels in _counts(hook))
    assert principals == [
        "spiffe://cluster.local/ns/shop/sa/payments",
        "spiffe://other/ns/shop/sa/payments",
        "unknown",
    ]
    # a Telemetry policy that changes the destination's metrics: the hook gets records
    mesh._state.telemetry = TelemetryPolicy(server_metrics=ModeMetrics(disabled=True))
    emit(recorder)
    assert sum(c[0] for c in _counts(hook).values()) == 3  # disabled: not counted
    # a hook added: records again, to every hook
    mesh._state.telemetry = TelemetryPolicy()
    mesh._state.hooks = (hook, records.append)
    emit(recorder)
    assert len(records) == 1 and sum(c[0] for c in _counts(hook).values()) == 4
