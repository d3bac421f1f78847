"""Small ASGI apps for the testing toolkit's tests, and raw-socket servers that fail for
real (to compare an injected fault with the failure it imitates)."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio

import inmesh


def app(
    name: str = "",
    *,
    status: int = 200,
    body_bytes: int = 0,
    hits: Counter[str] | None = None,
    sleep: float = 0.0,
) -> Any:
    """Answers ``status`` with who answered (the workload's Mesh), after ``sleep``."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return  # no lifespan support, as ASGI allows
        msg = await receive()
        if name:
            who = name
        else:
            mesh = inmesh.current_mesh()  # the workload's own, in memory and under uvicorn
            who = f"{mesh.service}-{mesh.labels.get('version', '')}"
        if hits is not None:
            hits[f"{scope['method']} {who}"] += 1
        if sleep:
            await anyio.sleep(sleep)
        body = (
            (b"x" * body_bytes) if body_bytes else f"{who} {msg.get('body', b'').decode()}".encode()
        )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-length", str(len(body)).encode()), (b"x-who", who.encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return asgi


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@contextmanager
def raw_server(behaviour: str) -> Iterator[int]:
    """A TCP server on 127.0.0.1 that reads a request and then fails for real:
    ``reset`` closes before any response byte; ``mid-body`` sends headers and 10 of 100
    body bytes, then closes."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if behaviour == "mid-body":
                    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n" + b"x" * 10)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        t.join(timeout=5)
        srv.close()


def static_service(name: str, port: int, *, service_port: int = 80) -> str:
    """A ServiceEntry for ``name`` with one STATIC endpoint at 127.0.0.1:``port``."""
    return f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {name}}}
spec:
  hosts: [{name}.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: {service_port}, name: http, protocol: HTTP}}]
  endpoints:
  - {{address: 127.0.0.1, ports: {{http: {port}}}}}
"""
