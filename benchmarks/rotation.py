"""Certificate rotation under load: short-lived workload certificates renewed while traffic
flows over mesh mTLS, counting failed requests (the goal is zero).

    .venv/bin/python benchmarks/rotation.py [--seconds 60] [--ttl 20] [--tasks 4]

A CA made for the run; the server (``_server.py --tls-dir``) requires a client certificate
from it. The client is ``Mesh(ca=DIR, cert_ttl=TTL)`` with ``ISTIO_MUTUAL`` to the server:
its certificate is renewed at half-life with jitter (Istio's rule), so a 20 s certificate
is replaced about every 10 s, and new connections use the new one while open ones finish.
``--tasks`` asyncio tasks send sequential GETs for ``--seconds``. Printed: requests, failed
requests (any status but 200, or an exception) and certificate generations seen. The
server's own certificate is static here; the server side
of a rotation (the listener switching certificates per handshake) is
``TLSHolder.server_front`` (tests/integration/security/test_rotation.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from _common import Servers, machine, table
from mtls import make_certs, mesh_config

import inmesh


async def load(mesh: inmesh.Mesh, seconds: float, tasks: int) -> tuple[Counter[str], set[int]]:
    outcomes: Counter[str] = Counter()
    generations: set[int] = set()
    holder = mesh.tls
    assert holder is not None
    stop = time.monotonic() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        while time.monotonic() < stop:
            generations.add(holder.generation)
            try:
                r = await client.get("http://bench/")
                outcomes["ok" if r.status_code == 200 else f"status {r.status_code}"] += 1
            except Exception as exc:  # a failure is what this benchmark counts
                outcomes[type(exc).__name__] += 1

    async with mesh.client() as client:
        await asyncio.gather(*(worker(client) for _ in range(tasks)))
    return outcomes, generations


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--ttl", type=float, default=20.0, help="certificate lifetime (s)")
    ap.add_argument("--tasks", type=int, default=4)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ca_dir, server_dir, _ = make_certs(Path(tmp))
        with Servers([0.0], extra_args=["--tls-dir", str(server_dir)]) as servers:
            mesh = inmesh.Mesh(
                service="bench-client",
                config=mesh_config(servers.ports[0]),
                ca=ca_dir,
                cert_ttl=a.ttl,
            )
            outcomes, generations = asyncio.run(load(mesh, a.seconds, a.tasks))
            mesh.close()
    total = sum(outcomes.values())
    failed = total - outcomes["ok"]
    print(f"{a.seconds:g} s of traffic, {a.tasks} tasks, certificates of {a.ttl:g} s")
    print(f"machine: {machine()}")
    rows = [
        ["requests", total],
        ["failed", failed],
        ["certificate generations seen", len(generations)],
        *([[f"  {k}", v] for k, v in outcomes.items() if k != "ok"]),
    ]
    print(table(["", "count"], rows))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
