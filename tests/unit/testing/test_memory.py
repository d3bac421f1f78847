"""In-memory connections: the channel, the h11 server, the backends (no sockets)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpcore
import pytest

from inmesh.testing._memory import (
    Channel,
    Directory,
    MemoryBackend,
    Served,
    SyncMemoryBackend,
)
from inmesh.testing._rules import EndpointInfo


async def chunked(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return  # no lifespan
    msg = await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for part in (b"a", b"b", msg["body"]):
        await send({"type": "http.response.body", "body": part, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def broken_late(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return  # no lifespan
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    raise RuntimeError("after the headers")


async def slow(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return  # no lifespan
    await receive()
    await asyncio.sleep(60)  # cancelled when the backend closes


def directory(app: Any) -> Directory:
    d = Directory()
    d.by_address[("127.1.0.2", 80)] = Served(app, EndpointInfo("127.1.0.2:80", frozenset()))
    return d


def test_a_channel_read_times_out_and_a_put_wakes_it() -> None:
    async def main() -> tuple[bytes, bool]:
        ch = Channel(asyncio.get_running_loop())
        with pytest.raises(TimeoutError):
            await ch.get(0.01)
        asyncio.get_running_loop().call_soon(ch.put, b"x")
        return await ch.get(5), ch.pending()

    assert asyncio.run(main()) == (b"x", False)


def test_keep_alive_chunked_bodies_and_errors_async() -> None:
    connects: list[str] = []

    class Counting(MemoryBackend):
        async def connect_tcp(self, host: str, port: int, *a: Any, **k: Any) -> Any:
            connects.append(host)
            return await super().connect_tcp(host, port, *a, **k)

    async def main() -> list[bytes]:
        async with httpcore.AsyncConnectionPool(
            network_backend=Counting(directory(chunked))
        ) as pool:
            bodies = [
                (await pool.request("POST", "http://127.1.0.2/", content=b"c")).content
                for _ in range(3)
            ]
            with pytest.raises(httpcore.ConnectError, match="Connection refused"):
                await pool.request("GET", "http://127.9.9.9/")
            with pytest.raises(httpcore.ConnectError, match="Name or service not known"):
                await pool.request("GET", "http://nowhere.example/")
        return bodies

    assert asyncio.run(main()) == [b"abc"] * 3
    assert connects == ["127.1.0.2", "127.9.9.9", "nowhere.example"]  # one kept alive


def test_an_app_failing_after_its_headers_closes_the_connection() -> None:
    backend = MemoryBackend(directory(broken_late))

    async def main() -> None:
        async with httpcore.AsyncConnectionPool(network_backend=backend) as pool:
            with pytest.raises(httpcore.RemoteProtocolError):
                await pool.request("GET", "http://127.1.0.2/")

    asyncio.run(main())
    assert [str(e) for e in backend.directory.errors] == ["after the headers"]


def test_the_sync_backend_serves_on_its_loop_thread() -> None:
    d = directory(chunked)
    d.by_address[("127.1.0.3", 80)] = Served(slow, EndpointInfo("127.1.0.3:80", frozenset()))
    backend = SyncMemoryBackend(d)
    try:
        with httpcore.ConnectionPool(network_backend=backend) as pool:
            r = pool.request("POST", "http://127.1.0.2/", content=b"s")
            with pytest.raises(httpcore.ReadTimeout):
                pool.request("GET", "http://127.1.0.3/", extensions={"timeout": {"read": 0.05}})
    finally:
        backend.close()
    assert r.content == b"abs"


def test_the_lifespan_runs_before_the_first_connection_and_its_state_reaches_requests() -> None:
    events: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            events.append((await receive())["type"])
            scope["state"]["db"] = "ready"
            await send({"type": "lifespan.startup.complete"})
            events.append((await receive())["type"])
            await send({"type": "lifespan.shutdown.complete"})
            return
        await receive()
        body = scope["state"]["db"].encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    d = directory(app)

    async def main() -> bytes:
        async with httpcore.AsyncConnectionPool(network_backend=MemoryBackend(d)) as pool:
            body = (await pool.request("GET", "http://127.1.0.2/")).content
        (lifespan,) = d.by_address[("127.1.0.2", 80)].lifespans.values()
        await lifespan.shutdown()
        return body

    assert asyncio.run(main()) == b"ready"
    assert events == ["lifespan.startup", "lifespan.shutdown"]
