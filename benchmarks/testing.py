"""inmesh.testing: the same test scenario against in-memory workloads and real uvicorn
servers, to show what serving workloads in memory saves.

    .venv/bin/python benchmarks/testing.py [--quick] [--runs 10] [--requests 20]

One run is one test of examples/shop as a user writes it: a Sandbox with the shop's four
workload instances (storefront, inventory v1 x2, inventory v2) built from mesh.yaml in
deterministic mode, then ``--requests`` product pages (each a storefront -> inventory
call), an inventory outage (abort 503) with 5 more pages, one order, and teardown.
``network="memory"`` serves the workloads through in-memory connections;
``network="tcp"`` starts a uvicorn server per instance on 127.0.0.1 and connects to it.
Both go through the same mesh (pools, retries, timeouts, records); the fault is injected
at the same wire layer. Reported: the mean and best time of a whole test (setup,
requests, teardown) and of one request (the page loop only), per mode, and the ratio.
The runs alternate modes so that both see the same machine load.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from examples.shop import inventory, storefront  # noqa: E402

from inmesh.testing import Sandbox, deterministic, workload  # noqa: E402

MESH = ROOT / "examples" / "shop" / "mesh.yaml"


async def one_test(network: str, pages: int) -> tuple[float, float]:
    """One test: (seconds for the whole test, seconds per page request)."""
    start = time.perf_counter()
    with (
        deterministic(),
        Sandbox(
            config=MESH,
            network=network,  # type: ignore[arg-type]
            workloads=[
                workload(storefront.app, service="storefront", version="v1"),
                workload(inventory.make_app("v1"), service="inventory", version="v1", replicas=2),
                workload(inventory.make_app("v2"), service="inventory", version="v2"),
            ],
        ) as shop,
    ):
        async with shop.client() as client:
            t0 = time.perf_counter()
            for _ in range(pages):
                r = await client.get("http://storefront:8080/products/1")
                assert r.status_code == 200, r.text
            per_request = (time.perf_counter() - t0) / max(pages, 1)
            with shop.faults.abort("inventory", status=503):
                for _ in range(5):
                    r = await client.get("http://storefront:8080/products/1")
                    assert r.json()["stock"] == "unknown"
            r = await client.post("http://storefront:8080/orders", json={"item": "3"})
            assert r.status_code == 200, r.text
    return time.perf_counter() - start, per_request


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="3 runs")
    args = ap.parse_args()
    runs = 3 if args.quick else args.runs
    results: dict[str, list[tuple[float, float]]] = {"memory": [], "tcp": []}
    asyncio.run(one_test("memory", 2))  # warm up imports and code paths
    asyncio.run(one_test("tcp", 2))
    for _ in range(runs):
        for network in ("memory", "tcp"):
            results[network].append(asyncio.run(one_test(network, args.requests)))
    print(f"inmesh.testing: one examples/shop test, {runs} runs, {args.requests} pages each")
    print(f"{'network':8} {'test mean':>10} {'test best':>10} {'page mean':>10} {'page best':>10}")
    means: dict[str, tuple[float, float]] = {}
    for network, rs in results.items():
        tests = [t for t, _ in rs]
        pages = [p for _, p in rs]
        means[network] = (statistics.mean(tests), statistics.mean(pages))
        print(
            f"{network:8} {statistics.mean(tests) * 1e3:8.1f}ms {min(tests) * 1e3:8.1f}ms "
            f"{statistics.mean(pages) * 1e3:8.2f}ms {min(pages) * 1e3:8.2f}ms"
        )
    test_ratio = means["tcp"][0] / means["memory"][0]
    page_ratio = means["tcp"][1] / means["memory"][1]
    print(f"in memory: a whole test {test_ratio:.1f}x faster, one request {page_ratio:.1f}x")


if __name__ == "__main__":
    main()
