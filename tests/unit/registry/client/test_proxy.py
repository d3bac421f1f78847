"""The status report a watching client keeps: the applied revision rides on every watch
request; the full report is sent only when the rejections change or the registry asks."""

from __future__ import annotations

from inmesh.registry.client import ProxyInfo, Rejection
from inmesh.registry.client._proxy import ProxyReport

CORS = Rejection("VirtualService", "shop", "cart", "corsPolicy: not supported yet")


def test_the_full_report_is_pending_only_when_the_rejections_change() -> None:
    report = ProxyReport(ProxyInfo("cart", "shop", {"version": "v1"}), "1a2b3c4d")
    assert not report.pending
    report.unknown()
    assert not report.pending  # nothing applied yet: nothing to tell
    report.apply(5, [])
    assert report.pending and report.generation == 1  # the first report
    report.pending = False
    report.apply(6, [CORS, CORS])
    assert report.pending and report.generation == 2 and report.rejections == (CORS,)
    report.pending = False
    report.apply(7, [CORS])
    assert not report.pending  # the revision alone travels with the watch request
    assert report.params() == {"proxy": "1a2b3c4d", "applied": 7, "report": 2}
    report.unknown()
    assert report.pending
    assert report.body() == {
        "id": "1a2b3c4d",
        "service": "cart",
        "namespace": "shop",
        "labels": {"version": "v1"},
        "applied": 7,
        "generation": 2,
        "rejections": [CORS.to_json()],
    }


def test_an_unchanged_revision_carries_what_was_applied() -> None:
    report = ProxyReport(ProxyInfo("cart"), "x")
    report.apply(5, [])
    report.carry(4, 6)
    assert report.applied == 5  # 5 was not the view before
    report.carry(5, 6)
    assert report.applied == 6
