"""A loopback benchmark server: one uvicorn process listening on several 127.0.0.1 ports.

Run as ``python benchmarks/_server.py N [--delays-ms D1,D2,...]``: prints the N ports on one
line, then serves until stdin closes (so it also ends when the benchmark that started it
dies). Port i waits ``Di`` milliseconds (``asyncio.sleep``, no CPU) before answering;
the default is 0 for every port. Kept out of the measuring process so its CPU is not
counted as the client's.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import ssl
import sys
import threading
from typing import Any

import uvicorn

BODY = b'{"ok": true}'
HEADERS = [(b"content-type", b"application/json")]


def make_app(delays: dict[int, float]) -> Any:
    """The ASGI app: 200 with a small JSON body, after the port's delay (seconds)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        delay = delays.get(scope["server"][1], 0.0) if delays else 0.0
        if delay:
            await asyncio.sleep(delay)
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": BODY})

    return app


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("count", type=int, nargs="?", default=1, help="ports to listen on")
    ap.add_argument("--delays-ms", default="", help="comma-separated delay per port (ms)")
    ap.add_argument(
        "--tls-dir",
        default="",
        help="serve mutual TLS: cert.pem, key.pem and root.pem in DIR (client cert required)",
    )
    args = ap.parse_args()
    socks = []
    for _ in range(args.count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited when accepted
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    delays_ms = [float(d) for d in args.delays_ms.split(",") if d.strip()]
    delays = {p: d / 1000.0 for p, d in zip(ports, delays_ms, strict=False) if d > 0}
    print(" ".join(str(p) for p in ports), flush=True)
    tls: dict[str, Any] = {}
    if args.tls_dir:
        tls = {
            "ssl_certfile": f"{args.tls_dir}/cert.pem",
            "ssl_keyfile": f"{args.tls_dir}/key.pem",
            "ssl_ca_certs": f"{args.tls_dir}/root.pem",
            "ssl_cert_reqs": ssl.CERT_REQUIRED,  # as a STRICT sidecar: a client cert or nothing
        }
    server = uvicorn.Server(
        uvicorn.Config(
            make_app(delays),
            log_level="error",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=60,  # never close a pooled connection during a run
            **tls,
        )
    )

    def watch_stdin() -> None:
        sys.stdin.read()
        server.should_exit = True

    threading.Thread(target=watch_stdin, daemon=True).start()
    asyncio.run(server.serve(sockets=socks))


if __name__ == "__main__":
    main()
