"""The wire: httpcore network backends that act out faults on real or in-memory streams.

Every connection the pools open goes through :class:`FaultyBackend` (async) or
:class:`SyncFaultyBackend`: at connect, a connect-phase fault raises what httpcore raises
for the real failure (``ConnectError`` caused by ``ConnectionRefusedError``,
``socket.gaierror`` or ``ssl.SSLError``); at each request head, a request-phase fault
changes what the reader gets (a canned answer, EOF before or after the headers, waits that
the read timeout really bounds). The mesh above sees exactly what a network would give it,
so its retries, timeouts, outlier detection and telemetry react as they would in production.
Each connect and request is logged (:class:`WireLog`) for the test's assertions.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Generator, Iterable
from typing import Any

import anyio
import httpcore

from .._streams import AsyncWrappedStream, WrappedStream
from ._errors import async_read_timeout, connect_error, sync_read_timeout
from ._faults import FaultPlan
from ._memory import Directory
from ._outcomes import (
    CANNED,
    Delay,
    DNSFailure,
    Outcome,
    Refuse,
    ResetBeforeHeaders,
    ResetMidBody,
    SlowBody,
    Stall,
    TLSFailure,
)
from ._rules import EndpointInfo
from ._tries import Try, WireLog, label

_REQUEST_LINE = re.compile(rb"^([A-Z]+) (\S+) HTTP/1\.[01]\r\n")


class _Response:
    """The request-phase state of one connection: the fault in force for the current
    request and how far its response has come (sans-IO: the streams act on it)."""

    __slots__ = ("body", "canned", "delayed", "eof", "head", "head_done", "outcome", "swallow")

    def __init__(self, outcome: Outcome | None) -> None:
        self.outcome = outcome
        self.canned = outcome.response() if isinstance(outcome, CANNED) else b""
        #: the request is not forwarded (the fault answers instead of the app)
        self.swallow = isinstance(outcome, CANNED)
        self.delayed = False
        self.head = b""
        self.head_done = False
        self.body = 0
        self.eof = False

    def split(self, data: bytes) -> tuple[bytes, bytes]:
        """``data`` as (what the reader gets now, what waits), for mid-body cuts and slow
        bodies; counts the body bytes handed out."""
        head_len = 0
        if not self.head_done:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return data, b""
            self.head_done = True
            head_len = len(data) - (len(self.head) - (end + 4))
        out = self.outcome
        limit: int | None = None
        if isinstance(out, (ResetMidBody, Stall)):
            limit = max(out.after_bytes - self.body, 0)
        elif isinstance(out, SlowBody):
            limit = out.chunk_bytes
        body = len(data) - head_len
        if limit is None or body <= limit:
            self.body += body
            return data, b""
        self.body += limit
        return data[: head_len + limit], data[head_len + limit :]

    def cut(self) -> bool:
        """The body reached the fault's point (reset or stall)."""
        out = self.outcome
        return (
            isinstance(out, (ResetMidBody, Stall))
            and self.head_done
            and (self.body >= out.after_bytes)
        )


def _timeout_first(seconds: float | None, timeout: float | None) -> tuple[float | None, bool]:
    """How long to wait, and whether the read timeout ends the wait (then ReadTimeout)."""
    if timeout is not None and (seconds is None or timeout < seconds):
        return timeout, True
    return seconds, False


class _Wait:
    """A read step: wait ``seconds`` (None: for ever), or until the read timeout."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds


#: read steps: close the inner stream; read from it (the data is sent back to the steps)
_CLOSE = "close"
_READ = "read"
_Step = _Wait | str


class _Base:
    def __init__(self, ep: EndpointInfo, plan: FaultPlan, log: WireLog) -> None:
        self._ep = ep
        self._plan = plan
        self._log = log
        self._r = _Response(None)
        self._pending = b""

    def _on_write(self, buffer: bytes) -> bool:
        """Whether to forward ``buffer`` (a new request head decides its fault)."""
        m = _REQUEST_LINE.match(buffer)
        if m is not None:
            method, path = m.group(1).decode("ascii"), m.group(2).decode("latin-1")
            out = self._plan.request_outcome(self._ep, method, path)
            self._r = _Response(out)
            self._pending = b""
            self._log.add(
                Try(self._ep.key, self._ep.name, method, path, sent=True, fault=label(out))
            )
        return not self._r.swallow

    def _read_steps(self, max_bytes: int) -> Generator[_Step, bytes, bytes]:
        """One read as the fault in force shapes it, sans-IO: yields the waits, the close
        and the inner read for the stream to do (the data read is sent back), and returns
        what the reader gets. The async and the sync stream only do the I/O."""
        r = self._r
        out = r.outcome
        if r.eof:
            return b""
        if r.swallow:
            data, r.canned = r.canned[:max_bytes], r.canned[max_bytes:]
            r.eof = not data
            return data
        if isinstance(out, ResetBeforeHeaders):
            r.eof = True
            yield _CLOSE
            return b""
        if isinstance(out, Delay) and not r.delayed:
            r.delayed = True
            yield _Wait(out.seconds)
        if r.cut():
            if isinstance(out, ResetMidBody):
                r.eof = True
                yield _CLOSE
                return b""
            assert isinstance(out, Stall)
            yield _Wait(out.seconds)
            r.outcome = None  # the stall is over: the rest flows
        if isinstance(out, SlowBody) and r.head_done:
            yield _Wait(out.seconds_per_chunk)
        if self._pending:
            data, self._pending = self._pending[:max_bytes], self._pending[max_bytes:]
        else:
            data = yield _READ
        if not data or r.outcome is None:
            return data
        now, later = r.split(data)
        self._pending = later + self._pending
        return now

    def _readable(self, inner: Any) -> Any:
        if self._plan.refusing(self._ep):
            return True  # the peer went away: the pool drops the connection
        return inner.get_extra_info("is_readable")


class FaultyStream(_Base, AsyncWrappedStream):
    def __init__(
        self, inner: httpcore.AsyncNetworkStream, ep: EndpointInfo, plan: FaultPlan, log: WireLog
    ) -> None:
        _Base.__init__(self, ep, plan, log)
        AsyncWrappedStream.__init__(self, inner)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if self._on_write(buffer):
            await self._inner.write(buffer, timeout)

    async def _wait(self, seconds: float | None, timeout: float | None) -> None:
        wait, times_out = _timeout_first(seconds, timeout)
        if wait is None:
            await anyio.sleep_forever()
        else:
            await anyio.sleep(wait)
        if times_out:
            raise async_read_timeout()

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        steps = self._read_steps(max_bytes)
        try:
            step = next(steps)
            while True:
                if isinstance(step, _Wait):
                    await self._wait(step.seconds, timeout)
                    step = next(steps)
                elif step == _CLOSE:
                    await self._inner.aclose()
                    step = next(steps)
                else:
                    step = steps.send(await self._inner.read(max_bytes, timeout))
        except StopIteration as done:
            result: bytes = done.value
            return result

    async def _wrap_tls(self, tls: httpcore.AsyncNetworkStream) -> httpcore.AsyncNetworkStream:
        return FaultyStream(tls, self._ep, self._plan, self._log)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return self._readable(self._inner)
        return self._inner.get_extra_info(info)


class SyncFaultyStream(_Base, WrappedStream):
    def __init__(
        self, inner: httpcore.NetworkStream, ep: EndpointInfo, plan: FaultPlan, log: WireLog
    ) -> None:
        _Base.__init__(self, ep, plan, log)
        WrappedStream.__init__(self, inner)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if self._on_write(buffer):
            self._inner.write(buffer, timeout)

    def _wait(self, seconds: float | None, timeout: float | None) -> None:
        wait, times_out = _timeout_first(seconds, timeout)
        if wait is None:
            threading.Event().wait()  # for ever: no timeout to end it
        else:
            time.sleep(wait)
        if times_out:
            raise sync_read_timeout()

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        steps = self._read_steps(max_bytes)
        try:
            step = next(steps)
            while True:
                if isinstance(step, _Wait):
                    self._wait(step.seconds, timeout)
                    step = next(steps)
                elif step == _CLOSE:
                    self._inner.close()
                    step = next(steps)
                else:
                    step = steps.send(self._inner.read(max_bytes, timeout))
        except StopIteration as done:
            result: bytes = done.value
            return result

    def _wrap_tls(self, tls: httpcore.NetworkStream) -> httpcore.NetworkStream:
        return SyncFaultyStream(tls, self._ep, self._plan, self._log)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return self._readable(self._inner)
        return self._inner.get_extra_info(info)


class _Connects:
    """What both backends do at connect: the connect-phase fault, logged."""

    def __init__(self, directory: Directory, plan: FaultPlan, log: WireLog) -> None:
        self._directory = directory
        self._plan = plan
        self._log = log

    def _endpoint(self, host: str, port: int) -> EndpointInfo:
        """The endpoint at ``host:port``; raises what httpcore raises for the connect-phase
        fault in force (refused, DNS, TLS), after logging the try."""
        ep = self._directory.info(host, port)
        out = self._plan.connect_outcome(ep)
        if isinstance(out, (Refuse, TLSFailure, DNSFailure)):
            self._log.add(Try(ep.key, ep.name, fault=label(out)))
            raise connect_error(out, ep)
        return ep

    def _failed(self, ep: EndpointInfo) -> None:
        """The real connect failed (the inner backend raised ``ConnectError``)."""
        self._log.add(Try(ep.key, ep.name, fault="connect error"))


class FaultyBackend(_Connects, httpcore.AsyncNetworkBackend):
    """Wraps a backend (in-memory or httpcore's own sockets) with the fault plan."""

    def __init__(
        self,
        inner: httpcore.AsyncNetworkBackend,
        directory: Directory,
        plan: FaultPlan,
        log: WireLog,
    ) -> None:
        super().__init__(directory, plan, log)
        self.inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        ep = self._endpoint(host, port)
        try:
            stream = await self.inner.connect_tcp(
                host, port, timeout, local_address, socket_options
            )
        except httpcore.ConnectError:
            self._failed(ep)
            raise
        return FaultyStream(stream, ep, self._plan, self._log)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        return await self.inner.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


class SyncFaultyBackend(_Connects, httpcore.NetworkBackend):
    """The sync twin of :class:`FaultyBackend`."""

    def __init__(
        self, inner: httpcore.NetworkBackend, directory: Directory, plan: FaultPlan, log: WireLog
    ) -> None:
        super().__init__(directory, plan, log)
        self.inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        ep = self._endpoint(host, port)
        try:
            stream = self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
        except httpcore.ConnectError:
            self._failed(ep)
            raise
        return SyncFaultyStream(stream, ep, self._plan, self._log)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        return self.inner.connect_unix_socket(path, timeout, socket_options)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
