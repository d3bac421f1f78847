"""What Istio's metadata exchange costs per request, by step (pure CPU, timeit).

    .venv/bin/python benchmarks/exchange.py [--number 200000] [--rounds 5]

- **build (once per workload)**: encoding this workload's ``x-envoy-peer-metadata`` (a
  protobuf Struct, base64) and its id: done when the Mesh is made, not per request;
- **outbound add**: the request's header list plus the two precomputed headers (the copy
  the transport makes for a mesh-internal request; 6 typical headers);
- **response take, with / without**: scanning the response headers for the destination's
  pair, removing it and looking the peer up (the parse cached by value), and the scan alone
  when the destination sent none;
- **inbound parse, cached / first time**: the destination's lookup of a caller's metadata
  (the steady state: one value per caller workload), and the first parse of a value.

Figures are the median over rounds of microseconds per operation.
"""

from __future__ import annotations

import argparse
import statistics
import timeit
from collections.abc import Callable

from inmesh.outbound._exchange import take_peer
from inmesh.telemetry import _exchange
from inmesh.telemetry._exchange import exchange_headers, peer_from_headers

LABELS = {"app": "reviews", "version": "v2"}
REQUEST = [
    (b"host", b"reviews:9080"),
    (b"accept", b"*/*"),
    (b"accept-encoding", b"gzip, deflate"),
    (b"connection", b"keep-alive"),
    (b"user-agent", b"python-httpx/0.28.1"),
    (b"x-request-id", b"3f1c2b8e-5a8d-4c3e-9f61-2c2e7f0f9a10"),
]
RESPONSE = [
    (b"date", b"Mon, 30 Nov 2026 08:00:00 GMT"),
    (b"server", b"uvicorn"),
    (b"content-type", b"application/json"),
    (b"content-length", b"64"),
]


def build() -> tuple[tuple[bytes, bytes], tuple[bytes, bytes]]:
    return exchange_headers(
        workload="reviews-v2", namespace="default", labels=LABELS, service_account="reviews"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    pair = build()
    value = pair[1][1]
    with_peer = [*RESPONSE, *pair]

    def first_parse() -> None:
        _exchange._parsed.clear()
        peer_from_headers(value)

    cases: list[tuple[str, Callable[[], object], int]] = [
        ("build (once per workload)", build, args.number // 20),
        ("outbound add", lambda: [*REQUEST, *pair], args.number),
        ("response take, with", lambda: take_peer(with_peer), args.number),
        ("response take, without", lambda: take_peer(RESPONSE), args.number),
        ("inbound parse, cached", lambda: peer_from_headers(value), args.number),
        ("inbound parse, first time", first_parse, args.number // 20),
    ]
    print(f"{'step':<28s} {'us/op':>8s}")
    for name, fn, number in cases:
        runs = [timeit.timeit(fn, number=number) / number * 1e6 for _ in range(args.rounds)]
        print(f"{name:<28s} {statistics.median(runs):8.2f}")


if __name__ == "__main__":
    main()
