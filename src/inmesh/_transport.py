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
        self.pools: dict[object, Any] = {}
        self._lock = threading.Lock()

    def get(self, ex: Exchange, call: Call) -> Any:
        pool = self.pools.get(ex.pool_key)
        if pool is not None:
            return pool
        with self._lock:
            pool = self.pools.get(ex.pool_key)
            if pool is None:
                pool = self.pools[ex.pool_key] = self._new(ex, call)
        return pool

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
            call.finish(0, call.flags)
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
                resp = await self._pools.get(ex, call).handle_async_request(ex.core)
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
        try:
            ex = call.next_send()
            if isinstance(ex, httpx.Response):
                return
            resp = await self._pools.get(ex, call).handle_async_request(ex.core)
            await resp.aread()
            await _aclose(resp)
            call.finish(resp.status)
        except Exception:
            call.finish(0, "UF")

    async def aclose(self) -> None:
        for task in list(self._mirrors):
            task.cancel()
        pools, self._pools.pools = self._pools.pools, {}
        for pool in pools.values():
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
        with _translated():
            async for part in self._stream:
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
            call.finish(0, call.flags)
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
        try:
            ex = call.next_send()
            if isinstance(ex, httpx.Response):
                return
            resp = self._pools.get(ex, call).handle_request(ex.core)
            resp.read()
            resp.close()
            call.finish(resp.status)
        except Exception:
            call.finish(0, "UF")

    def close(self) -> None:
        if self._mirror_pool is not None:
            self._mirror_pool.shutdown(wait=False, cancel_futures=True)
        pools, self._pools.pools = self._pools.pools, {}
        for pool in pools.values():
            pool.close()


class _SyncStream(httpx.SyncByteStream):
    def __init__(self, stream: Any, call: Call, status: int) -> None:
        self._stream = stream
        self._call = call
        self._status = status

    def __iter__(self) -> Iterator[bytes]:
        with _translated():
            yield from self._stream

    def close(self) -> None:
        try:
            if hasattr(self._stream, "close"):
                with _translated():
                    self._stream.close()
        finally:
            self._call.finish(self._status)
