"""The outbound record: every field lands where its name says (the record is built with
positional arguments, in the order of RequestRecord's fields)."""

from __future__ import annotations

import dataclasses

import httpx

import inmesh
from inmesh.outbound._call import Call
from inmesh.outbound._record import emit
from inmesh.outbound._route import RouteTier, request_view
from inmesh.telemetry import RequestRecord

from ._support import SUBSETS, mesh, request, state


def _record(*, full: bool) -> tuple[RequestRecord, inmesh.Mesh]:
    m, records = mesh(SUBSETS)
    state(m).full_records = full
    req = httpx.Request(
        "POST",
        "http://backend/items?page=2",
        headers={"content-type": "application/grpc", "user-agent": "t"},
        content=b"12345",
    )
    call, _ = RouteTier(state(m)).start(req)
    assert isinstance(call, Call)
    ex = call.next_attempt()
    assert not isinstance(ex, httpx.Response)
    call.on_response(200, [])
    call.response_bytes = 7
    call.grpc_status = "14"
    call.finish(200, "URX")
    assert len(records) == 1
    return records[0], m


def test_each_field_of_a_forwarded_request_holds_its_value() -> None:
    rec, m = _record(full=False)
    assert (rec.source_service, rec.source_namespace) == ("frontend", "default")
    assert rec.destination_service == "backend.default.svc.cluster.local"
    assert rec.destination_subset == "v1" and rec.route_name == "to-v1"
    assert rec.cluster == "outbound|80|v1|backend.default.svc.cluster.local"
    assert rec.destination_endpoint == "127.0.0.1:9001"
    assert (rec.method, rec.path, rec.status) == ("POST", "/items", 200)
    assert (rec.response_flags, rec.attempts) == ("URX", 1)
    assert rec.duration >= 0.0 and rec.start_time > 1e9
    assert (rec.details, rec.error, rec.reporter) == ("via_upstream", "", "source")
    assert (rec.request_protocol, rec.grpc_status) == ("grpc", "14")
    assert (rec.request_bytes, rec.response_bytes) == (5, 7)
    assert rec.source_labels is state(m).identity.labels
    assert rec.source_workload == state(m).workload
    assert rec.destination_labels == {"app": "backend", "version": "v1"}
    assert rec.destination_namespace == "default"
    assert rec.connection_security_policy == "unknown"
    assert rec.telemetry is not None
    # what only access logs and Telemetry expressions read: not made
    assert (rec.protocol, rec.query, rec.upstream_local_address) == ("", "", "")
    assert rec.downstream_local_address == "" and dict(rec.request_headers) == {}
    # the destination side's fields stay empty on the source side
    assert (rec.authorization, rec.downstream_remote_address, rec.requested_server_name) == (
        "",
        "",
        "",
    )
    assert (rec.source_cluster, rec.destination_cluster, rec.destination_principal) == (
        "",
        "",
        "",
    )


def test_access_log_fields_are_made_while_one_may_read_them() -> None:
    rec, _ = _record(full=True)
    assert (rec.protocol, rec.query) == ("HTTP/1.1", "page=2")
    assert rec.downstream_local_address == "backend:80"
    assert rec.user_agent == "t"


def test_a_local_answer_names_its_cluster_and_cause() -> None:
    m, records = mesh()
    req = request("http://backend/x")
    emit(
        state(m),
        req,
        view=request_view(req),
        status=503,
        flags="UO",
        start=0.0,
        cluster=None,
        route=None,
        destination="elsewhere",
        cluster_name="outbound|80||elsewhere",
        details="overflow",
        error="why",
    )
    rec = records[0]
    assert (rec.destination_service, rec.cluster) == ("elsewhere", "outbound|80||elsewhere")
    assert (rec.status, rec.response_flags, rec.attempts) == (503, "UO", 0)
    assert (rec.details, rec.error, rec.destination_labels) == ("overflow", "why", {})


def test_every_field_is_covered_by_these_tests() -> None:
    # a new RequestRecord field must be placed in the positional call in _record.emit
    assert len(dataclasses.fields(RequestRecord)) == 41
