"""Workloads without sockets: httpcore network backends whose connections are in-memory
pipes to an HTTP/1.1 server (h11) running the workload's ASGI app.

A request goes through the real pools, timeouts and retries: the client side is httpcore's
own HTTP/1.1 connection over a :class:`MemoryStream`; the server side parses with h11 and
calls the app as an ASGI server would. The async backend serves each connection in a task
of the caller's event loop; the sync backend in one background event loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpcore

from ._errors import async_read_timeout, sync_read_timeout
from ._lifespan import Lifespan
from ._rules import EndpointInfo
from ._server import App, serve_connection

_NO_TLS = "TLS is not simulated in memory: Sandbox(network='tcp') serves real TLS"


@dataclass(slots=True)
class Served:
    """An app listening at an address: the endpoint it is, the Mesh it calls out with, and
    its lifespan in each event loop that served it."""

    app: App
    info: EndpointInfo
    mesh: Any = None
    lifespans: dict[asyncio.AbstractEventLoop, Lifespan] = field(default_factory=dict)

    async def lifespan(self) -> Lifespan:
        """The lifespan in the running loop, started on first use."""
        loop = asyncio.get_running_loop()
        found = self.lifespans.get(loop)
        if found is None:
            found = self.lifespans[loop] = Lifespan(self.app, self.mesh, self.info.name, loop)
        await found.started()
        return found


class Directory:
    """Which app listens at which address (``host:port``, or any port of a host)."""

    def __init__(self) -> None:
        self.by_address: dict[tuple[str, int], Served] = {}
        self.by_host: dict[str, Served] = {}
        #: exceptions the apps raised (the test can assert there were none)
        self.errors: list[BaseException] = []

    def all(self) -> list[Served]:
        return [*self.by_address.values(), *self.by_host.values()]

    def find(self, host: str, port: int) -> Served | None:
        return self.by_address.get((host, port)) or self.by_host.get(host)

    def info(self, host: str, port: int) -> EndpointInfo:
        served = self.find(host, port)
        if served is not None:
            return served.info
        return EndpointInfo(key=f"{host}:{port}", hosts=frozenset({host}), name=host)


def _unknown(host: str, port: int) -> httpcore.ConnectError:
    """Nothing listens there: a name does not resolve, an address refuses (never the real
    network: a test in memory sends nothing out)."""
    import socket

    if host.replace(".", "").isdigit() or ":" in host:
        exc: OSError = ConnectionRefusedError(111, "Connection refused")
        msg = f"[Errno 111] Connection refused (no in-memory workload at {host}:{port})"
    else:
        exc = socket.gaierror(-2, "Name or service not known")
        msg = f"[Errno -2] Name or service not known (no in-memory workload named {host})"
    err = httpcore.ConnectError(msg)
    err.__cause__ = exc
    return err


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class Channel:
    """Bytes one way between two tasks of one event loop: a deque and one waiter, with a
    timer only while a read waits (an ``asyncio.Queue`` read under ``anyio.fail_after``
    cost most of an in-memory request). ``b""`` is the end of the stream."""

    __slots__ = ("_chunks", "_loop", "_waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._chunks: deque[bytes] = deque()
        self._loop = loop
        self._waiter: asyncio.Future[None] | None = None

    def put(self, data: bytes) -> None:
        self._chunks.append(data)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def pending(self) -> bool:
        return bool(self._chunks)

    async def get(self, timeout: float | None = None) -> bytes:
        """The next chunk; ``TimeoutError`` after ``timeout`` seconds without one."""
        if not self._chunks:
            waiter = self._waiter = self._loop.create_future()
            timer = self._loop.call_later(timeout, _expire, waiter) if timeout is not None else None
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
        return self._chunks.popleft()


class _Buffered:
    __slots__ = ("_buf", "_closed", "_eof", "_server")

    def __init__(self, server: tuple[str, int]) -> None:
        self._buf = b""
        self._eof = False
        self._closed = False
        self._server = server

    def _take(self, max_bytes: int) -> bytes:
        data, self._buf = self._buf[:max_bytes], self._buf[max_bytes:]
        return data

    def _extra(self, info: str, pending: bool) -> Any:
        if info == "is_readable":
            return bool(self._buf) or self._eof or pending
        if info == "server_addr":
            return self._server
        if info == "client_addr":
            return ("127.0.0.1", 50000)
        return None


class MemoryStream(_Buffered, httpcore.AsyncNetworkStream):
    """The client's end of an in-memory connection (async)."""

    __slots__ = ("_from_server", "_to_server")

    def __init__(self, to_server: Channel, from_server: Channel, server: tuple[str, int]) -> None:
        super().__init__(server)
        self._to_server = to_server
        self._from_server = from_server

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._buf:
            return self._take(max_bytes)
        if self._eof or self._closed:
            return b""
        try:
            data = await self._from_server.get(timeout)
        except TimeoutError:
            raise async_read_timeout()  # noqa: B904
        if not data:
            self._eof = True
            return b""
        self._buf = data
        return self._take(max_bytes)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if self._closed:
            raise httpcore.WriteError("the connection is closed")
        if buffer:
            self._to_server.put(buffer)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._to_server.put(b"")

    async def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError(_NO_TLS)

    def get_extra_info(self, info: str) -> Any:
        return self._extra(info, self._from_server.pending())


class SyncMemoryStream(_Buffered, httpcore.NetworkStream):
    """The client's end of an in-memory connection (sync; the server runs on a loop
    thread)."""

    __slots__ = ("_put", "_q")

    def __init__(
        self, put: Callable[[bytes], None], q: queue.Queue[bytes], server: tuple[str, int]
    ) -> None:
        super().__init__(server)
        self._put = put
        self._q = q

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._buf:
            return self._take(max_bytes)
        if self._eof or self._closed:
            return b""
        try:
            data = self._q.get(timeout=timeout)
        except queue.Empty:
            raise sync_read_timeout()  # noqa: B904
        if not data:
            self._eof = True
            return b""
        self._buf = data
        return self._take(max_bytes)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if self._closed:
            raise httpcore.WriteError("the connection is closed")
        if buffer:
            self._put(buffer)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._put(b"")

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError(_NO_TLS)

    def get_extra_info(self, info: str) -> Any:
        return self._extra(info, not self._q.empty())


class MemoryBackend(httpcore.AsyncNetworkBackend):
    """Connects to the apps of a :class:`Directory`, serving each connection in a task of
    the caller's event loop."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        self._tasks: set[asyncio.Task[None]] = set()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        served = self.directory.find(host, port)
        if served is None:
            raise _unknown(host, port)
        await served.lifespan()  # startup first, as a server starts before it listens
        loop = asyncio.get_running_loop()
        to_server, to_client = Channel(loop), Channel(loop)
        task = loop.create_task(
            serve_connection(
                served, to_server.get, to_client.put, self.directory.errors, (host, port)
            )
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return MemoryStream(to_server, to_client, (host, port))

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not simulated in memory")

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)

    def cancel(self) -> None:
        """Stop every connection still served and every lifespan (the test is over)."""
        lifespans = [ls.task for served in self.directory.all() for ls in served.lifespans.values()]
        for task in [*self._tasks, *lifespans]:
            # RuntimeError: its event loop is closed already, nothing runs it any more
            with contextlib.suppress(RuntimeError):
                task.cancel()


class _LoopThread:
    """One event loop in a daemon thread, for the sync backend's servers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="inmesh-testing", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        def _cancel_all() -> None:
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            self.loop.call_soon(self.loop.stop)

        self.loop.call_soon_threadsafe(_cancel_all)
        self._thread.join(timeout=5)


class SyncMemoryBackend(httpcore.NetworkBackend):
    """The sync twin of :class:`MemoryBackend`: the apps run on a background event loop."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        self._loop: _LoopThread | None = None
        self._lock = threading.Lock()

    def _thread(self) -> _LoopThread:
        with self._lock:
            if self._loop is None:
                self._loop = _LoopThread()
            return self._loop

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        served = self.directory.find(host, port)
        if served is None:
            raise _unknown(host, port)
        lt = self._thread()
        loop = lt.loop
        to_client: queue.Queue[bytes] = queue.Queue()

        async def start() -> Channel:
            await served.lifespan()
            to_server = Channel(loop)
            loop.create_task(
                serve_connection(
                    served, to_server.get, to_client.put, self.directory.errors, (host, port)
                )
            )
            return to_server

        fut: Future[Channel] = asyncio.run_coroutine_threadsafe(start(), loop)
        to_server = fut.result()

        def put(data: bytes) -> None:
            loop.call_soon_threadsafe(to_server.put, data)

        return SyncMemoryStream(put, to_client, (host, port))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not simulated in memory")

    def sleep(self, seconds: float) -> None:
        import time

        time.sleep(seconds)

    def close(self) -> None:
        """Shut the lifespans down on the loop thread, then stop it."""
        with self._lock:
            lt, self._loop = self._loop, None
        if lt is None:
            return
        for served in self.directory.all():
            ls = served.lifespans.pop(lt.loop, None)
            if ls is not None:
                with contextlib.suppress(Exception):
                    asyncio.run_coroutine_threadsafe(ls.shutdown(), lt.loop).result(10)
        lt.stop()
