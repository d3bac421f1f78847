"""Requests: selections and the common questions, on hand-made records."""

from __future__ import annotations

import inmesh
from inmesh.testing import Request, Requests, Try


def record(
    method: str, dest: str, status: int, flags: str = "", attempts: int = 1, source: str = "t"
) -> inmesh.RequestRecord:
    return inmesh.RequestRecord(
        source_service=source,
        source_namespace="default",
        source_version="",
        destination_service=dest,
        destination_subset="v1",
        destination_endpoint="127.1.0.2:80",
        route_name="main",
        cluster="outbound|80|v1|" + dest,
        method=method,
        path="/",
        status=status,
        response_flags=flags,
        attempts=attempts,
        duration=0.0,
        start_time=0.0,
    )


SENT = Try("127.1.0.2:80", "inv-0", "POST", "/", sent=True)
REFUSED = Try("127.1.0.3:80", "inv-1", fault="connection refused")


def test_questions() -> None:
    reqs = Requests(
        [
            Request(record("GET", "inv.default.svc.cluster.local", 200), (SENT,)),
            Request(
                record("POST", "inv.default.svc.cluster.local", 503, "UF,URX", 3, "front"),
                (REFUSED, SENT, SENT),
            ),
            Request(record("GET", "api.example", 200), ()),
        ]
    )
    assert len(reqs.to("inv")) == 2 and len(reqs.to("api.example")) == 1
    assert reqs.retried() and not reqs.retried("api.example")
    assert reqs.sent_twice("post") and not reqs.sent_twice("GET")
    assert reqs.with_flag("URX")[0].flags == {"UF", "URX"}
    assert reqs.sent_by("front").statuses() == [503]
    posted = reqs[1]
    assert posted.endpoints_tried == ("127.1.0.3:80", "127.1.0.2:80", "127.1.0.2:80")
    assert posted.instances_tried == ("inv-1", "inv-0", "inv-0") and posted.sent == 2
    assert "POST inv.default.svc.cluster.local/ -> 503 UF,URX" in repr(reqs)
    assert reqs[0].flags == frozenset() and reqs[0].route == "main" and reqs[0].subset == "v1"
