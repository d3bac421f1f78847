"""Proxy status, end to end: a real registry, a watching client whose callback rejects a
resource, and ``inmesh status --proxies`` as a real process (istioctl proxy-status)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from inmesh.registry import ProxyInfo, RegistryClient, RegistryView, Rejection

from .conftest import Registry
from .yamls import bookinfo

pytestmark = pytest.mark.integration


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Poll ``predicate`` until it returns something true (a bound on waiting, not a
    timing assertion)."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)
    return value


def proxies(registry: Registry) -> dict[str, Any]:
    with registry.http() as c:
        response = c.get("/v1/proxies")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def status_proxies(registry: Registry) -> list[str]:
    """``inmesh status --proxies`` in its own process; its stdout lines."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INMESH_")}
    result = subprocess.run(
        [sys.executable, "-m", "inmesh", "status", "--proxies", "--registry", registry.url],
        env={**env, "INMESH_TOKEN": registry.admin},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def applied_revision(registry: Registry, proxy_id: str) -> int:
    items = [p for p in proxies(registry)["items"] if p["id"] == proxy_id]
    return int(items[0]["applied"]) if items else 0


class Callback:
    """An ``on_view`` that refuses the reviews VirtualService (as a Mesh refuses a field
    it does not support) and that a test can hold at a given revision."""

    def __init__(self) -> None:
        self.hold_at: int | None = None
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, view: RegistryView) -> list[Rejection]:
        if self.hold_at is not None and view.revision >= self.hold_at:
            self.entered.set()
            self.release.wait(30)
        return [
            Rejection(r.kind, r.namespace, r.name, "spec.http[0].corsPolicy: not supported yet")
            for r in view.resources
            if r.kind == "VirtualService" and r.name == "reviews"
        ]


@pytest.fixture
def watching(registry: Registry) -> Iterator[tuple[RegistryClient, Callback]]:
    registry.apply(bookinfo(90))
    client = RegistryClient(
        registry.url,
        registry.join_token("default"),
        hold=0.5,
        proxy=ProxyInfo("productpage", "default", {"version": "v1"}),
    )
    callback = Callback()
    watch = client.start_in_thread(callback)
    watch.wait_first()
    try:
        yield client, callback
    finally:
        callback.release.set()
        watch.stop()


def test_status_shows_synced_then_stale_then_the_new_revision(
    registry: Registry, watching: tuple[RegistryClient, Callback]
) -> None:
    client, callback = watching
    first = proxies(registry)["revision"]
    wait_until(lambda: applied_revision(registry, client.proxy_id) == first)
    name = f"productpage.default ({client.proxy_id})"
    lines = status_proxies(registry)
    assert lines[1].split() == ["NAME", "REVISION", "STATUS", "REJECTED"]
    assert lines[2].split() == [*name.split(), str(first), "SYNCED", "1"]
    assert lines[3] == (
        "    VirtualService default/reviews: spec.http[0].corsPolicy: not supported yet"
    )

    # A new apply: while the client is still applying it, the registry says STALE.
    callback.hold_at = first + 1
    with registry.http() as c:
        second = c.post(
            "/v1/apply", content=bookinfo(50), headers={"content-type": "application/yaml"}
        ).json()["revision"]
    assert callback.entered.wait(15)
    wait_until(lambda: proxies(registry)["revision"] == second)
    assert status_proxies(registry)[2].split() == [*name.split(), str(first), "STALE", "1"]

    callback.release.set()
    wait_until(lambda: applied_revision(registry, client.proxy_id) == second)
    assert status_proxies(registry)[2].split() == [*name.split(), str(second), "SYNCED", "1"]


def test_a_registry_that_forgot_the_proxy_hears_from_it_again(
    registry: Registry, watching: tuple[RegistryClient, Callback]
) -> None:
    client, _ = watching
    wait_until(lambda: applied_revision(registry, client.proxy_id))
    with registry.http() as c:  # as a restarted replica: no report from this proxy
        assert c.delete(f"/v1/proxies/{client.proxy_id}").status_code == 200
    wait_until(lambda: applied_revision(registry, client.proxy_id))
    (item,) = proxies(registry)["items"]
    assert item["labels"] == {"version": "v1"}
    assert [r["name"] for r in item["rejections"]] == ["reviews"]


def test_a_client_that_stops_leaves_the_table(registry: Registry) -> None:
    registry.apply(bookinfo(90))
    client = RegistryClient(registry.url, registry.admin, hold=0.5, proxy=ProxyInfo("ratings"))
    watch = client.start_in_thread(None)
    watch.wait_first()
    wait_until(lambda: applied_revision(registry, client.proxy_id) == proxies(registry)["revision"])
    assert len(proxies(registry)["items"]) == 1
    watch.stop()
    assert proxies(registry)["items"] == []


def test_proxy_status_is_for_admins_and_reports_for_their_own_namespace(
    registry: Registry,
) -> None:
    report = {"id": "abc", "service": "cart", "namespace": "bank", "applied": 1}
    with registry.http(registry.join_token("shop")) as c:
        assert c.get("/v1/proxies").status_code == 403
        refused = c.post("/v1/proxies", json=report)
        assert refused.status_code == 403 and "namespace 'bank'" in refused.json()["messages"][0]
        assert c.post("/v1/proxies", json={**report, "namespace": "shop"}).status_code == 200
        bad = c.post("/v1/proxies", json={"id": "X", "applied": "no"})
        assert bad.status_code == 400 and len(bad.json()["messages"]) == 3
    with registry.http(None) as c:
        assert c.post("/v1/proxies", json=report).status_code == 401


def test_a_refused_report_is_logged_once_and_the_watch_goes_on(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    registry.apply(bookinfo(90))
    client = RegistryClient(
        registry.url, registry.join_token("shop"), hold=0.2, proxy=ProxyInfo("cart", "bank")
    )
    with caplog.at_level("INFO", logger="inmesh.registry"):
        watch = client.start_in_thread(None)
        try:
            first = watch.wait_first()
            wait_until(lambda: any("refused" in r.getMessage() for r in caplog.records))
            second = registry.apply(bookinfo(50)).json()["revision"]
            wait_until(lambda: watch.view is not None and watch.view.revision == second)
        finally:
            watch.stop()
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 1 and "namespace 'bank'" in refused[0]
    assert first.revision < second and proxies(registry)["items"] == []
