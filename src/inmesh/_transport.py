"""The two thin shells around ``Outbound``: an async and a sync httpx transport.

Each owns httpcore connection pools (one per distinct upstream TLS setting), sends the
prepared exchange, and wraps the response stream so the exchange is released and recorded
when the application closes the response.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpcore
import httpx

from ._flags import UPSTREAM_CONNECT_FAILURE, UPSTREAM_RESET
from ._outbound import Exchange, Outbound
from .security._upstream_tls import UpstreamTLS

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


def _upstream_failure(exc: Exception) -> bool | None:
    """How Envoy reports a failure before response headers: True for a connect failure
    (503 UF), False for a reset after connecting (503 UC), None for the application's own
    timeouts and errors, which it sees as exceptions."""
    if isinstance(exc, (httpcore.ConnectError, httpcore.ConnectTimeout)):
        return True
    if isinstance(exc, (httpcore.RemoteProtocolError, httpcore.ReadError, httpcore.WriteError)):
        return False
    return None


class _PoolSettings:
    """The application's httpx transport options, applied to every pool we create."""

    def __init__(
        self,
        verify: ssl.SSLContext | str | bool,
        cert: Any,
        limits: httpx.Limits,
        http1: bool,
        http2: bool,
        trust_env: bool,
    ) -> None:
        self.app_context = httpx.create_ssl_context(verify=verify, cert=cert, trust_env=trust_env)
        self.limits = limits
        self.http1 = http1
        self.http2 = http2

    def kwargs(self, tls: UpstreamTLS | None) -> dict[str, Any]:
        return {
            "ssl_context": tls.context() if tls is not None else self.app_context,
            "max_connections": self.limits.max_connections,
            "max_keepalive_connections": self.limits.max_keepalive_connections,
            "keepalive_expiry": self.limits.keepalive_expiry,
            "http1": self.http1,
            "http2": self.http2,
        }


class _MeshResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: Any, outbound: Outbound, ex: Exchange, status: int) -> None:
        self._stream = stream
        self._outbound = outbound
        self._ex = ex
        self._status = status
        self._done = False

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
            if not self._done:
                self._done = True
                self._outbound.finish(self._ex, self._status, "")


class _SyncMeshResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: Any, outbound: Outbound, ex: Exchange, status: int) -> None:
        self._stream = stream
        self._outbound = outbound
        self._ex = ex
        self._status = status
        self._done = False

    def __iter__(self) -> Iterator[bytes]:
        with _translated():
            yield from self._stream

    def close(self) -> None:
        try:
            if hasattr(self._stream, "close"):
                with _translated():
                    self._stream.close()
        finally:
            if not self._done:
                self._done = True
                self._outbound.finish(self._ex, self._status, "")


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
        self._settings = _PoolSettings(verify, cert, limits, http1, http2, trust_env)
        self._pools: dict[object, httpcore.AsyncConnectionPool] = {}

    def _pool(self, tls: UpstreamTLS | None) -> httpcore.AsyncConnectionPool:
        key = tls.context_key if tls is not None else None
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = httpcore.AsyncConnectionPool(**self._settings.kwargs(tls))
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        out = self._outbound
        ex = out.prepare(request)
        if isinstance(ex, httpx.Response):
            return ex
        try:
            resp = await self._pool(ex.tls).handle_async_request(ex.core)
        except Exception as exc:
            kind = _upstream_failure(exc)
            if kind is None:
                out.finish(ex, 0, "")
                with _translated():
                    raise
            return out.fail(ex, UPSTREAM_CONNECT_FAILURE if kind else UPSTREAM_RESET)
        return httpx.Response(
            status_code=resp.status,
            headers=out.respond(ex, resp.status, resp.headers),
            stream=_MeshResponseStream(resp.stream, out, ex, resp.status),
            extensions=resp.extensions,
        )

    async def aclose(self) -> None:
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            await pool.aclose()


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
        self._settings = _PoolSettings(verify, cert, limits, http1, http2, trust_env)
        self._pools: dict[object, httpcore.ConnectionPool] = {}

    def _pool(self, tls: UpstreamTLS | None) -> httpcore.ConnectionPool:
        key = tls.context_key if tls is not None else None
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = httpcore.ConnectionPool(**self._settings.kwargs(tls))
        return pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        out = self._outbound
        ex = out.prepare(request)
        if isinstance(ex, httpx.Response):
            return ex
        try:
            resp = self._pool(ex.tls).handle_request(ex.core)
        except Exception as exc:
            kind = _upstream_failure(exc)
            if kind is None:
                out.finish(ex, 0, "")
                with _translated():
                    raise
            return out.fail(ex, UPSTREAM_CONNECT_FAILURE if kind else UPSTREAM_RESET)
        return httpx.Response(
            status_code=resp.status,
            headers=out.respond(ex, resp.status, resp.headers),
            stream=_SyncMeshResponseStream(resp.stream, out, ex, resp.status),
            extensions=resp.extensions,
        )

    def close(self) -> None:
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.close()
