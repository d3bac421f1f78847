"""The two thin shells around ``Outbound``: an async and a sync httpx transport.

Each owns httpcore connection pools (one per cluster and endpoint, as Envoy pools per
host), sleeps where a ``Call`` says (fault delay, retry backoff), sends each attempt (its
per-try timeout travels as httpcore's read timeout), and wraps the final response so the
call is finished and recorded when the application closes it. All decisions are in
``_outbound.Call``.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import anyio
import httpcore
import httpx

from ._flags import join_flags
from ._outbound import Call, Exchange, Outbound, failure_kind
from .resilience import LocalFailure, Step

if TYPE_CHECKING:
    from ._mesh import Mesh

# httpcore -> httpx, as httpx's own transport translates them at this boundary.
_EXC: dict[type[Exception], type[httpx.HTTPError]] = {
    httpcore.TimeoutException: httpx.TimeoutException,
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.NetworkError: httpx.NetworkError,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.ProxyError: httpx.ProxyError,
    httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
    httpcore.ProtocolError: httpx.ProtocolError,
    httpcore.LocalProtocolError: httpx.LocalProtocolError,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
}


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for cls in type(exc).__mro__:
            target = _EXC.get(cls)
            if target is not None:
                raise target(str(exc)) from exc
        raise


class _Pools:
    """Connection pools by (cluster, endpoint), built with the application's options.

    Envoy keeps a connection pool per upstream host of each cluster; so does inmesh, so that
    one cluster's TLS settings never touch another's traffic and a request never scans the
    idle connections of other hosts (httpcore checks every idle connection of a pool on
    each request: with one pool per cluster, client CPU grew with the endpoint count).
    ``maxConnections`` caps each endpoint's pool; the cluster-wide limit is the pool gate's
    admission (503 UO).

    A pool's key includes its settings (TLS, connectionPool), so a configuration change
    gets new pools at once. Pools no snapshot uses any more (changed settings, endpoints
    gone) are retired when the mesh's snapshot changes and closed once idle, so requests
    still in flight on them finish.
    """

    def __init__(
        self,
        factory: type[Any],
        verify: ssl.SSLContext | str | bool,
        cert: Any,
        limits: httpx.Limits,
        http1: bool,
        http2: bool,
        trust_env: bool,
    ) -> None:
        self._factory = factory
        self._app_context = httpx.create_ssl_context(verify=verify, cert=cert, trust_env=trust_env)
        self._limits = limits
        self._http1 = http1
        self._http2 = http2
        self.pools: dict[tuple[str, str, object], Any] = {}
        self.retiring: list[Any] = []
        self._lock = threading.Lock()
        self._revision = -1

    def get(self, ex: Exchange, call: Call) -> Any:
        """The pool for ``ex`` (sync shell: retired idle pools are closed here)."""
        pool = self._lookup(ex, call)
        if self.retiring:
            for old in self._idle_retired():
                old.close()
        return pool

    async def aget(self, ex: Exchange, call: Call) -> Any:
        """The pool for ``ex`` (async shell: retired idle pools are closed here)."""
        pool = self._lookup(ex, call)
        if self.retiring:
            for old in self._idle_retired():
                await old.aclose()
        return pool

    def _lookup(self, ex: Exchange, call: Call) -> Any:
        if call.snapshot.revision != self._revision:
            self._sweep(call)
        pool = self.pools.get(ex.pool_key)
        if pool is not None:
            return pool
        with self._lock:
            pool = self.pools.get(ex.pool_key)
            if pool is None:
                pool = self.pools[ex.pool_key] = self._new(ex, call)
        return pool

    def _sweep(self, call: Call) -> None:
        """A new snapshot: retire the pools it no longer uses."""
        with self._lock:
            if call.snapshot.revision <= self._revision:
                return
            self._revision = call.snapshot.revision
            live = call.live_pools()
            for key in list(self.pools):
                if key[2] is None:  # passthrough pools stay
                    continue
                if key not in live and (key[0], "*", key[2]) not in live:
                    self.retiring.append(self.pools.pop(key))

    def _idle_retired(self) -> list[Any]:
        with self._lock:
            idle = [p for p in self.retiring if all(c.is_idle() for c in p.connections)]
            self.retiring = [p for p in self.retiring if p not in idle]
        return idle

    def _new(self, ex: Exchange, call: Call) -> Any:
        limits = self._limits
        max_connections = limits.max_connections
        max_keepalive = limits.max_keepalive_connections
        keepalive = limits.keepalive_expiry
        if call.cluster is not None:
            pl = call.cluster.state.limits
            # connectionPool.tcp.maxConnections caps the cluster's connections.
            if max_connections is None or pl.max_connections < max_connections:
                max_connections = pl.max_connections
            if call.cluster.policy.connection_pool is not None and pl.idle_timeout is not None:
                keepalive = pl.idle_timeout  # connectionPool.http.idleTimeout
            if pl.max_requests_per_connection == 1:
                max_keepalive = 0  # maxRequestsPerConnection: 1 turns keep-alive off
        return self._factory(
            ssl_context=ex.tls.context() if ex.tls is not None else self._app_context,
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive,
            keepalive_expiry=keepalive,
            http1=self._http1,
            http2=self._http2,
        )


def _failed(call: Call, ex: Exchange, exc: Exception) -> tuple[LocalFailure, Step]:
    """An attempt that got no response: the Envoy failure it stands for and the retry
    decision. The application's own timeouts and errors are re-raised as httpx's."""
    if isinstance(exc, httpcore.ReadTimeout):
        if not ex.timed_by_mesh:
            raise httpx.ReadTimeout(str(exc) or "timed out") from exc
        return LocalFailure.TIMEOUT, call.on_failure(LocalFailure.TIMEOUT, request_sent=True)
    kind = failure_kind(exc)
    if kind is None:
        with _translated():
            raise exc
    failure, sent = kind
    return failure, call.on_failure(failure, request_sent=sent)


def _final(
    call: Call, resp: httpcore.Response, stream: httpx.AsyncByteStream | httpx.SyncByteStream
) -> httpx.Response:
    """The response the application gets, streaming through the mesh's wrapper."""
    return httpx.Response(
        status_code=resp.status,
        headers=call.response_headers(resp.headers),
        stream=stream,
        extensions=resp.extensions,
    )


# asyncio's own timeout context (Python 3.11+) costs about half of anyio.fail_after's; on
# 3.10 the attempt is bounded by httpcore's per-phase timeouts alone, as in the sync shell.
_attempt_deadline: Any = getattr(asyncio, "timeout", None)

_DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


class AsyncMeshTransport(httpx.AsyncBaseTransport):
    """An httpx async transport that routes every request through the mesh."""

    def __init__(
        self,
        mesh: Mesh,
        *,
        verify: ssl.SSLContext | str | bool = True,
        cert: Any = None,
        limits: httpx.Limits = _DEFAULT_LIMITS,
        http1: bool = True,
        http2: bool = False,
        trust_env: bool = True,
    ) -> None:
        self._outbound = Outbound(mesh)
        self._pools = _Pools(
            httpcore.AsyncConnectionPool, verify, cert, limits, http1, http2, trust_env
        )
        self._mirrors: set[asyncio.Task[None]] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        call, mirrors = self._outbound.start(request)
        for m in mirrors:
            # Fire and forget (Envoy's shadowing): mirroring runs as an asyncio task.
            task = asyncio.get_running_loop().create_task(self._mirror(m))
            self._mirrors.add(task)
            task.add_done_callback(self._mirrors.discard)
        if isinstance(call, httpx.Response):
            return call
        try:
            return await self._run(call)
        except BaseException:
            # the application gave up (cancelled, or its own timeout): Envoy's DC
            call.finish(0, join_flags(call.flags, "DC"))
            raise

    async def _run(self, call: Call) -> httpx.Response:
        if call.delay:  # the fault's delay, before the router
            wait, app_timeout = call.fault_wait()
            await anyio.sleep(wait)
            if app_timeout:
                raise httpx.ReadTimeout("timed out (injected delay)")
        while True:
            ex = call.next_send()
            if isinstance(ex, httpx.Response):
                return ex
            try:
                pool = await self._pools.aget(ex, call)
                if ex.timeout is None or _attempt_deadline is None:
                    resp = await pool.handle_async_request(ex.core)
                else:
                    # one deadline over pool wait, connect, send and response headers
                    async with _attempt_deadline(ex.timeout):
                        resp = await pool.handle_async_request(ex.core)
            except TimeoutError:
                failure = LocalFailure.TIMEOUT
                step = call.on_failure(failure, request_sent=True)
            except Exception as exc:
                failure, step = _failed(call, ex, exc)
            else:
                step = call.on_response(resp.status, resp.headers)
                if step is Step.DONE:
                    return _final(call, resp, _AsyncStream(resp.stream, call, resp.status))
                await _aclose(resp)
                failure = LocalFailure.TIMEOUT
            if step is Step.RETRY:
                await anyio.sleep(call.delay)
                continue
            if step is Step.TIMEOUT:
                await anyio.sleep(call.delay)
                return call.failure_response(LocalFailure.TIMEOUT)
            return call.failure_response(failure)

    async def _mirror(self, call: Call) -> None:
        """Send a mirror copy; its answer (or failure) is discarded."""
        status, flags = 0, "DC"  # unless it completes or fails: cancelled (client closed)
        try:
            ex = call.next_send()
            if isinstance(ex, httpx.Response):
                return
            resp = await (await self._pools.aget(ex, call)).handle_async_request(ex.core)
            await resp.aread()
            await _aclose(resp)
            status, flags = resp.status, ""
        except Exception:
            flags = "UF"
        finally:  # also when cancelled: release the endpoint and record the copy
            call.finish(status, flags)

    async def aclose(self) -> None:
        mirrors = list(self._mirrors)
        for task in mirrors:
            task.cancel()
        # let each cancelled copy release its endpoint and emit its record
        await asyncio.gather(*mirrors, return_exceptions=True)
        pools, self._pools.pools = self._pools.pools, {}
        retiring, self._pools.retiring = self._pools.retiring, []
        for pool in [*pools.values(), *retiring]:
            await pool.aclose()


async def _aclose(resp: httpcore.Response) -> None:
    stream: Any = resp.stream
    if hasattr(stream, "aclose"):
        await stream.aclose()


class _AsyncStream(httpx.AsyncByteStream):
    def __init__(self, stream: Any, call: Call, status: int) -> None:
        self._stream = stream
        self._call = call
        self._status = status

    async def __aiter__(self) -> AsyncIterator[bytes]:
        call = self._call
        with _translated():
            if call.remaining() is None:
                async for part in self._stream:
                    yield part
                return
            # The route timeout runs until the whole response is in (Envoy's rule); each
            # read is bounded by the attempt's time and the deadline is checked between
            # chunks, as in the sync shell (a timer per chunk would cost more than the
            # rest of the mesh's work per request).
            async for part in self._stream:
                left = call.remaining()
                if left is not None and left <= 0.0:
                    raise httpx.ReadTimeout("upstream request timeout (route timeout)")
                yield part

    async def aclose(self) -> None:
        try:
            if hasattr(self._stream, "aclose"):
                with _translated():
                    await self._stream.aclose()
        finally:
            self._call.finish(self._status)


class SyncMeshTransport(httpx.BaseTransport):
    """An httpx sync transport that routes every request through the mesh."""

    def __init__(
        self,
        mesh: Mesh,
        *,
        verify: ssl.SSLContext | str | bool = True,
        cert: Any = None,
        limits: httpx.Limits = _DEFAULT_LIMITS,
        http1: bool = True,
        http2: bool = False,
        trust_env: bool = True,
    ) -> None:
        self._outbound = Outbound(mesh)
        self._pools = _Pools(httpcore.ConnectionPool, verify, cert, limits, http1, http2, trust_env)
        self._mirror_pool: ThreadPoolExecutor | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        call, mirrors = self._outbound.start(request)
        if mirrors:
            if self._mirror_pool is None:
                self._mirror_pool = ThreadPoolExecutor(4, thread_name_prefix="inmesh-mirror")
            for m in mirrors:
                self._mirror_pool.submit(self._mirror, m)
        if isinstance(call, httpx.Response):
            return call
        try:
            return self._run(call)
        except BaseException:
            # the application gave up (cancelled, or its own timeout): Envoy's DC
            call.finish(0, join_flags(call.flags, "DC"))
            raise

    def _run(self, call: Call) -> httpx.Response:
        if call.delay:  # the fault's delay, before the router
            wait, app_timeout = call.fault_wait()
            time.sleep(wait)
            if app_timeout:
                raise httpx.ReadTimeout("timed out (injected delay)")
        while True:
            ex = call.next_send()
            if isinstance(ex, httpx.Response):
                return ex
            try:
                resp = self._pools.get(ex, call).handle_request(ex.core)
            except Exception as exc:
                failure, step = _failed(call, ex, exc)
            else:
                step = call.on_response(resp.status, resp.headers)
                if step is Step.DONE:
                    return _final(call, resp, _SyncStream(resp.stream, call, resp.status))
                resp.close()
                failure = LocalFailure.TIMEOUT
            if step is Step.RETRY:
                time.sleep(call.delay)
                continue
            if step is Step.TIMEOUT:
                time.sleep(call.delay)
                return call.failure_response(LocalFailure.TIMEOUT)
            return call.failure_response(failure)

    def _mirror(self, call: Call) -> None:
        status, flags = 0, "DC"
        try:
            ex = call.next_send()
            if isinstance(ex, httpx.Response):
                return
            resp = self._pools.get(ex, call).handle_request(ex.core)
            resp.read()
            resp.close()
            status, flags = resp.status, ""
        except Exception:
            flags = "UF"
        finally:
            call.finish(status, flags)

    def close(self) -> None:
        if self._mirror_pool is not None:
            # queued copies never start (nothing was sent or counted for them)
            self._mirror_pool.shutdown(wait=False, cancel_futures=True)
        pools, self._pools.pools = self._pools.pools, {}
        retiring, self._pools.retiring = self._pools.retiring, []
        for pool in [*pools.values(), *retiring]:
            pool.close()


class _SyncStream(httpx.SyncByteStream):
    def __init__(self, stream: Any, call: Call, status: int) -> None:
        self._stream = stream
        self._call = call
        self._status = status

    def __iter__(self) -> Iterator[bytes]:
        call = self._call
        with _translated():
            if call.remaining() is None:
                yield from self._stream
                return
            # The route timeout covers the whole response: a blocking read cannot be
            # interrupted, so each read is bounded by the attempt's time and the deadline
            # is checked between chunks.
            for part in self._stream:
                left = call.remaining()
                if left is not None and left <= 0.0:
                    raise httpx.ReadTimeout("upstream request timeout (route timeout)")
                yield part

    def close(self) -> None:
        try:
            if hasattr(self._stream, "close"):
                with _translated():
                    self._stream.close()
        finally:
            self._call.finish(self._status)
