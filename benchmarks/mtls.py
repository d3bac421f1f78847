"""Mesh mTLS with keep-alive: inmesh with ``ISTIO_MUTUAL`` against raw httpx holding the
same certificates, to the same mutual-TLS server, in one run.

    .venv/bin/python benchmarks/mtls.py [--sync] [--quick] [--requests 2000] [--rounds 10]

The server (``_server.py --tls-dir``) requires a client certificate from the mesh CA, as a
STRICT sidecar does. A CA made for the run issues the server's certificate (service
account ``bench``) and the client's (``bench-client``):

- ``raw httpx + mTLS``: ``httpx.AsyncClient(verify=<the client's ISTIO_MUTUAL context>)``
  to ``https://127.0.0.1:<port>/`` (chain verified against the mesh root, host name not
  checked: Istio checks identities, and so does the next client).
- ``inmesh ISTIO_MUTUAL``: ``Mesh(ca=DIR)`` with a DestinationRule ``tls.mode:
  ISTIO_MUTUAL``; the server is also checked by its SPIFFE identity after each handshake.

Keep-alive is on for both, so the handshake is paid once per connection and the figures
are the per-request cost over an established mTLS connection. Rounds interleave as in
``overhead.py``; each ratio is the median of per-round ratios. Budget (issue 9): 1.10x on
p50 and CPU per request.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

import httpx
from _common import Servers, service_entry, workload_entries
from overhead import Series, _order, measure_async, measure_sync, report

import inmesh
from inmesh.security import CertificateAuthority, SpiffeId, WorkloadTLS
from inmesh.security._keys import private_key_pem


def make_certs(base: Path) -> tuple[Path, Path, WorkloadTLS]:
    """The run's CA dir, the server's files, and raw httpx's client certificate."""
    ca = CertificateAuthority.init_root(base / "ca")
    key, issued = ca.issue(SpiffeId.of("default", "bench"))
    server = base / "server"
    server.mkdir()
    (server / "cert.pem").write_bytes(issued.chain_pem)
    (server / "key.pem").write_bytes(private_key_pem(key))
    (server / "root.pem").write_bytes(issued.root_pem)
    ckey, cissued = ca.issue(SpiffeId.of("default", "bench-client"))
    return base / "ca", server, WorkloadTLS.build(ckey, cissued)


def mesh_config(port: int) -> list[dict[str, object]]:
    [we] = workload_entries([port])
    we["spec"]["serviceAccount"] = "bench"  # type: ignore[index]
    return [
        service_entry(),
        we,
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": "bench"},
            "spec": {"host": "bench", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}},
        },
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000, help="per client per round")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--sync", action="store_true", help="measure httpx.Client instead")
    ap.add_argument("--quick", action="store_true", help="500 requests x 4 rounds")
    a = ap.parse_args()
    requests, rounds = (500, 4) if a.quick else (a.requests, a.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        ca_dir, server_dir, client_tls = make_certs(Path(tmp))
        with Servers([0.0], extra_args=["--tls-dir", str(server_dir)]) as servers:
            port = servers.ports[0]
            mesh = inmesh.Mesh(service="bench-client", config=mesh_config(port), ca=ca_dir)
            raw_url = f"https://127.0.0.1:{port}/"
            series = [Series("raw httpx + mTLS"), Series("inmesh ISTIO_MUTUAL")]
            if a.sync:
                with httpx.Client(verify=client_tls.client) as raw, mesh.sync_client() as m:
                    plan = [(raw, raw_url), (m, "http://bench/")]
                    for i in range(rounds):
                        for j in _order(i, 2):
                            series[j].add(*measure_sync(*plan[j], requests))
            else:

                async def run() -> None:
                    async with (
                        httpx.AsyncClient(verify=client_tls.client) as raw,
                        mesh.client() as m,
                    ):
                        plan = [(raw, raw_url), (m, "http://bench/")]
                        for i in range(rounds):
                            for j in _order(i, 2):
                                series[j].add(*await measure_async(*plan[j], requests))

                asyncio.run(run())
    report(series, requests=requests, rounds=rounds, mode="sync" if a.sync else "async")
    sys.exit(0)


if __name__ == "__main__":
    main()
