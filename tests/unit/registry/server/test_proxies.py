"""The proxy table of one replica (a fake clock, no sleeping), and report validation."""

from __future__ import annotations

from typing import Any

import pytest

from inmesh.registry._errors import BadRequest
from inmesh.registry.server._api_proxies import parse_report
from inmesh.registry.server._proxies import (
    ProxyRecord,
    ProxyRejection,
    ProxyTracker,
    sync_status,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def record(proxy_id: str, namespace: str = "shop", applied: int = 3) -> ProxyRecord:
    return ProxyRecord(
        id=proxy_id,
        service="cart",
        namespace=namespace,
        labels={},
        applied=applied,
        rejections=(),
        seen=0.0,
    )


def test_proxies_drop_out_when_not_seen_for_the_expiry() -> None:
    clock = Clock()
    tracker = ProxyTracker(expiry=90, clock=clock)
    tracker.report(record("a"))
    tracker.report(record("b", namespace="bank"))
    clock.now += 60
    assert tracker.seen("a") and not tracker.seen("zzz")
    clock.now += 60  # a: seen 60 s ago; b: 120 s ago
    assert [p.id for p in tracker.proxies()] == ["a"]
    assert tracker.get("b") is None and not tracker.seen("b")
    assert tracker.proxies()[0].seen == 160.0
    assert tracker.forget("a") and not tracker.forget("a")
    assert tracker.proxies() == []


def test_a_watch_records_the_applied_revision_of_the_generation_it_knows() -> None:
    tracker = ProxyTracker(expiry=90, clock=Clock())
    tracker.report(
        ProxyRecord(
            id="a",
            service="cart",
            namespace="shop",
            labels={},
            applied=3,
            rejections=(),
            seen=0.0,
            generation=2,
        )
    )
    assert tracker.seen("a", applied=4, generation=2)
    assert tracker.get("a").applied == 4  # type: ignore[union-attr]
    # A generation the replica has not seen: the rejections it holds are stale, so the
    # revision is not taken and the client is asked for its full report.
    assert not tracker.seen("a", applied=5, generation=3)
    assert tracker.get("a").applied == 4  # type: ignore[union-attr]
    assert not tracker.seen("unknown", applied=5, generation=1)


def test_the_table_is_bounded_after_dropping_expired_proxies() -> None:
    clock = Clock()
    tracker = ProxyTracker(expiry=10, limit=2, clock=clock)
    assert tracker.report(record("a")) and tracker.report(record("b"))
    assert tracker.report(record("a", applied=4))  # a known proxy may always report again
    assert not tracker.report(record("c"))
    clock.now += 11
    assert tracker.report(record("c"))
    assert [p.id for p in tracker.proxies()] == ["c"]


def test_sync_status_follows_istioctl() -> None:
    assert sync_status(7, 7) == "SYNCED"
    assert sync_status(6, 7) == "STALE"
    assert sync_status(0, 0) == "STALE"  # never applied anything


def test_a_report_is_parsed() -> None:
    parsed = parse_report(
        {
            "id": "1a2b3c4d",
            "service": "cart",
            "namespace": "shop",
            "labels": {"version": "v1"},
            "applied": 9,
            "generation": 2,
            "rejections": [
                {"kind": "VirtualService", "namespace": "shop", "name": "x", "reason": "why"}
            ],
        }
    )
    assert (parsed.applied, parsed.generation) == (9, 2)
    assert parsed.rejections == (ProxyRejection("VirtualService", "shop", "x", "why"),)


def test_a_bad_report_lists_every_problem() -> None:
    body: dict[str, Any] = {
        "id": "Not_An_Id",
        "service": "",
        "namespace": "Bad NS",
        "labels": {"a": 1},
        "applied": -1,
        "rejections": [{"kind": "VirtualService"}, "nope"],
        "extra": True,
    }
    with pytest.raises(BadRequest) as info:
        parse_report(body)
    messages = info.value.messages
    assert info.value.status == 400
    for expected in (
        "unknown field 'extra'",
        "id 'Not_An_Id'",
        "service must be",
        "namespace 'Bad NS'",
        "labels must map",
        "applied must be an integer",
        "rejections[0].namespace",
        "rejections[0].name must",
        "rejections[0].reason",
        "rejections[1] must be an object",
    ):
        assert sum(expected in m for m in messages) == 1, (expected, messages)
