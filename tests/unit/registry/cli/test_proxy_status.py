"""``inmesh status --proxies``: the table, from a ``GET /v1/proxies`` answer."""

from __future__ import annotations

from typing import Any

from inmesh.registry.cli._proxy_status import render_proxies


def proxy(proxy_id: str, applied: int, status: str, *rejected: str) -> dict[str, Any]:
    return {
        "id": proxy_id,
        "service": "cart",
        "namespace": "shop",
        "applied": applied,
        "status": status,
        "rejections": [
            {"kind": "VirtualService", "namespace": "shop", "name": n, "reason": "not supported"}
            for n in rejected
        ],
    }


def test_the_table_shows_revision_status_and_each_rejection() -> None:
    data = {
        "revision": 12,
        "store": "s1",
        "items": [proxy("1a2b3c4d", 12, "SYNCED", "cors"), proxy("5e6f7a8b", 0, "STALE")],
    }
    assert render_proxies(data).splitlines() == [
        "Registry revision 12 (store s1).",
        "NAME                   REVISION   STATUS   REJECTED",
        "cart.shop (1a2b3c4d)   12         SYNCED   1",
        "    VirtualService shop/cors: not supported",
        "cart.shop (5e6f7a8b)   -          STALE    0",
    ]


def test_no_proxies_and_namespace_filter() -> None:
    data = {"revision": 3, "store": "s1", "items": [proxy("1a2b3c4d", 3, "SYNCED")]}
    assert render_proxies(data, namespace="bank").splitlines() == [
        "Registry revision 3 (store s1).",
        "No proxies in namespace bank.",
    ]
    assert render_proxies({"revision": 0, "items": []}).endswith("No proxies.")
