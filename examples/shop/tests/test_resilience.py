"""What the shop's mesh configuration promises, proven without a cluster: the recipes of
docs/testing.md (an outage, a slow dependency against a timeout, a canary receiving 10%,
no double POST, an ejection)."""

from __future__ import annotations

from collections import Counter

import pytest

from inmesh.testing import FaultPlan, Requests, Sandbox

pytestmark = pytest.mark.anyio


async def test_product_page_survives_an_inventory_outage(
    shop: Sandbox, mesh_faults: FaultPlan, mesh_requests: Requests
) -> None:
    mesh_faults.abort("inventory", status=503)  # every replica, until the test ends
    async with shop.client() as client:
        r = await client.get("http://storefront:8080/products/1")
    assert r.status_code == 200 and r.json() == {"item": "1", "stock": "unknown"}
    # the reads route retried twice (5xx) before storefront gave up
    (read,) = mesh_requests.to("inventory")
    assert read.status == 503 and read.attempts == 3 and read.flags == {"URX"}


async def test_slow_inventory_is_cut_at_the_route_timeout(
    shop: Sandbox, mesh_faults: FaultPlan, mesh_requests: Requests
) -> None:
    mesh_faults.delay("inventory", seconds=3)  # longer than the reads route's 0.5 s
    async with shop.client() as client:
        r = await client.get("http://storefront:8080/products/1")
    assert r.json()["stock"] == "unknown"
    (read,) = mesh_requests.to("inventory")
    assert read.status == 504 and read.flags == {"UT"} and read.route == "reads"


async def test_canary_receives_about_ten_percent_of_reads(
    shop: Sandbox, mesh_requests: Requests
) -> None:
    async with shop.client() as client:
        for _ in range(300):
            r = await client.get("http://storefront:8080/products/3")
            assert r.status_code == 200
    by_subset = Counter(r.subset for r in mesh_requests.to("inventory"))
    assert by_subset.keys() == {"v1", "v2"}
    assert 15 <= by_subset["v2"] <= 45  # 10% of 300, give or take (seeded: same every run)


async def test_an_order_is_never_sent_twice(
    shop: Sandbox, mesh_faults: FaultPlan, mesh_requests: Requests
) -> None:
    # the connection breaks after inventory got the reservation, before it answered
    mesh_faults.reset_before_headers("inventory", method="POST")
    async with shop.client() as client:
        r = await client.post("http://storefront:8080/orders", json={"item": "1"})
    assert r.status_code == 503
    assert not mesh_requests.to("inventory").sent_twice("POST")
    assert mesh_requests.to("inventory")[0].sent == 1


async def test_reads_are_retried_on_another_replica_but_orders_are_not(
    shop: Sandbox, mesh_faults: FaultPlan, mesh_requests: Requests
) -> None:
    mesh_faults.reset_before_headers("inventory", first=1)
    async with shop.client() as client:
        page = await client.get("http://storefront:8080/products/1")
    assert page.json()["stock"] == 12
    assert mesh_requests.to("inventory").retried()


async def test_a_failing_replica_is_ejected(
    shop: Sandbox, mesh_faults: FaultPlan, mesh_requests: Requests
) -> None:
    bad, good = shop.endpoints("inventory")[:2]  # the two v1 replicas
    mesh_faults.abort("inventory", endpoint=bad, status=500)
    async with shop.client() as client:
        for _ in range(20):
            await client.get("http://storefront:8080/products/1")
    # storefront's own mesh saw the 5xx and ejected the replica
    assert shop.ejected(bad, by="storefront-v1") and not shop.ejected(good, by="storefront-v1")
    last = mesh_requests.to("inventory")[-5:]
    assert bad not in {t.name for r in last for t in r.tries}
