"""The status report a watching client keeps: sent when it changed, or when asked."""

from __future__ import annotations

from inmesh.registry.client import ProxyInfo, Rejection
from inmesh.registry.client._proxy import ProxyReport

CORS = Rejection("VirtualService", "shop", "cart", "corsPolicy: not supported yet")


def test_a_report_is_pending_only_when_it_changed() -> None:
    report = ProxyReport(ProxyInfo("cart", "shop", {"version": "v1"}), "1a2b3c4d")
    assert not report.pending
    report.unknown()
    assert not report.pending  # nothing applied yet: nothing to tell
    report.apply(5, [CORS, CORS])
    assert report.pending and report.rejections == (CORS,)
    report.pending = False
    report.apply(5, [CORS])
    assert not report.pending
    report.unknown()
    assert report.pending
    assert report.body() == {
        "id": "1a2b3c4d",
        "service": "cart",
        "namespace": "shop",
        "labels": {"version": "v1"},
        "applied": 5,
        "rejections": [CORS.to_json()],
    }


def test_an_unchanged_revision_carries_what_was_applied() -> None:
    report = ProxyReport(ProxyInfo("cart"), "x")
    report.apply(5, [])
    report.pending = False
    report.carry(4, 6)
    assert (report.applied, report.pending) == (5, False)  # 5 was not the view before
    report.carry(5, 6)
    assert (report.applied, report.pending) == (6, True)
