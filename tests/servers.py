"""Real HTTP servers for integration tests: uvicorn on 127.0.0.1, ephemeral ports."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn

Scope = dict[str, Any]


def echo_app(name: str, version: str) -> Any:
    """An ASGI app answering every request with JSON describing it and who answered."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        headers: dict[str, str] = {}
        for k, v in scope["headers"]:
            key = k.decode("latin-1")
            headers[key] = (headers[key] + "," if key in headers else "") + v.decode("latin-1")
        payload = {
            "service": name,
            "version": version,
            "method": scope["method"],
            "path": scope["path"],
            "query": scope["query_string"].decode("latin-1"),
            "headers": headers,
            "body": body.decode("latin-1"),
        }
        out = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"x-version", version.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": out})

    return app


@dataclass
class RunningServer:
    """A uvicorn server running in a background thread."""

    port: int
    server: uvicorn.Server
    thread: threading.Thread
    host: str = "127.0.0.1"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_server(app: Any, port: int = 0, **config: Any) -> RunningServer:
    """Start ``app`` under uvicorn on 127.0.0.1 (an ephemeral port unless ``port`` is given,
    e.g. to restart a stopped server where it was); return once it serves."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit TCP_NODELAY on Linux; uvicorn's h11 server writes headers and
    # body separately, and Nagle plus delayed ACKs would add 40 ms to every response.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    cfg = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, **config)
    server = uvicorn.Server(cfg)

    def run() -> None:
        asyncio.run(server.serve(sockets=[sock]))

    thread = threading.Thread(target=run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = 100
    while not server.started and deadline:
        threading.Event().wait(0.05)
        deadline -= 1
    if not server.started:
        raise RuntimeError(f"server on port {port} did not start")
    return RunningServer(port=port, server=server, thread=thread)


@contextmanager
def servers(*specs: tuple[str, str]) -> Iterator[list[RunningServer]]:
    """Run one echo server per ``(service, version)`` for the duration of the block."""
    running = [start_server(echo_app(name, version)) for name, version in specs]
    try:
        yield running
    finally:
        for s in running:
            s.stop()


@dataclass
class Recorder:
    """What a behaviour server saw: requests by path, and the Host headers of each."""

    count: dict[str, int] = field(default_factory=dict)
    #: requests by path whose answer was sent (``count`` is taken on arrival)
    answered: dict[str, int] = field(default_factory=dict)
    hosts: list[str] = field(default_factory=list)
    client_ports: list[int] = field(default_factory=list)

    def total(self) -> int:
        return sum(self.count.values())


def behaviour_app(name: str, recorder: Recorder, delay: float = 0.0) -> Any:
    """An ASGI app whose answer the path chooses, recording every request:

    ``/every-third`` answers 503 to every third request; ``/status/<n>`` answers ``n``;
    ``/slow/<ms>`` answers after ``ms`` milliseconds; anything else answers 200. Bodies
    are JSON ``{"server": name, ...}``. ``delay`` (seconds) slows every answer.
    """
    state = {"n": 0}

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        path: str = scope["path"]
        recorder.count[path] = recorder.count.get(path, 0) + 1
        recorder.hosts.append(dict(scope["headers"]).get(b"host", b"").decode())
        recorder.client_ports.append(scope["client"][1])
        status = 200
        if delay:
            await asyncio.sleep(delay)
        if path == "/every-third":
            state["n"] += 1
            status = 503 if state["n"] % 3 == 0 else 200
        elif path.startswith("/status/"):
            status = int(path.rsplit("/", 1)[1])
        elif path.startswith("/slow/"):
            await asyncio.sleep(int(path.rsplit("/", 1)[1]) / 1000)
        body = json.dumps({"server": name, "status": status}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})
        recorder.answered[path] = recorder.answered.get(path, 0) + 1

    return app
