"""The async shell: an httpx async transport that runs the step driver with asyncio I/O."""

from __future__ import annotations

import asyncio
import math
import ssl
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import anyio
import httpcore
import httpx

from .._flags import DC, UF, join_flags
from .._state import MeshState
from ._call import Call
from ._driver import Result, steps
from ._endpoint import Exchange
from ._errors import raise_as_httpx
from ._pools import DEFAULT_LIMITS, Pools
from ._route import RouteTier


class AsyncMeshTransport(httpx.AsyncBaseTransport):
    """An httpx async transport that routes every request through the mesh."""

    def __init__(
        self,
        state: MeshState,
        *,
        verify: ssl.SSLContext | str | bool = True,
        cert: Any = None,
        limits: httpx.Limits = DEFAULT_LIMITS,
        http1: bool = True,
        http2: bool = False,
        trust_env: bool = True,
    ) -> None:
        self._route = RouteTier(state)
        self._pools = Pools(
            httpcore.AsyncConnectionPool,
            verify=verify,
            cert=cert,
            limits=limits,
            http1=http1,
            http2=http2,
            trust_env=trust_env,
            identity_backend=_identity_backend,
            network_backend=state.network.async_backend if state.network is not None else None,
        )
        self._mirrors: set[asyncio.Task[None]] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        call, mirrors = self._route.start(request)
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
            call.finish(0, join_flags(call.flags, DC))
            raise

    async def _run(self, call: Call) -> httpx.Response:
        driver = steps(call)
        result: Result = None
        try:
            while True:
                cmd = driver.send(result)
                result = None
                if isinstance(cmd, Exchange):
                    result = await self._send(cmd)
                elif isinstance(cmd, httpcore.Response):
                    await _aclose(cmd)
                else:
                    await anyio.sleep(cmd)
        except StopIteration as stop:
            final = stop.value
        if isinstance(final, httpx.Response):
            return final
        return call.upstream_response(final, _AsyncStream(final.stream, call, final.status))

    async def _send(self, ex: Exchange) -> httpcore.Response | Exception:
        # The attempt is bounded by httpcore's per-phase timeouts (pool wait, connect,
        # write, each read), each capped to the attempt's time by the endpoint tier, as in
        # the sync shell. An outer asyncio deadline was measured at ~5 us a request (a
        # timer armed and cancelled per attempt) for what the read timeout already bounds.
        try:
            if self._pools.retiring:  # pools a new snapshot no longer uses
                for old in self._pools.idle_retired():
                    await old.aclose()
            return await self._pools.get(ex).handle_async_request(ex.core)  # type: ignore[no-any-return]
        except Exception as exc:
            return exc

    async def _mirror(self, call: Call) -> None:
        """Send a mirror copy; its answer (or failure) is discarded."""
        status, flags = 0, DC  # unless it completes or fails: cancelled (client closed)
        try:
            ex = call.next_attempt()
            if isinstance(ex, httpx.Response):
                return
            resp = await self._pools.get(ex).handle_async_request(ex.core)
            await resp.aread()
            await _aclose(resp)
            status, flags = resp.status, ""
        except Exception:
            flags = UF
        finally:  # also when cancelled: release the endpoint and record the copy
            call.finish(status, flags)

    async def aclose(self) -> None:
        mirrors = list(self._mirrors)
        for task in mirrors:
            task.cancel()
        # let each cancelled copy release its endpoint and emit its record
        await asyncio.gather(*mirrors, return_exceptions=True)
        for pool in self._pools.take_all():
            await pool.aclose()


async def _aclose(resp: httpcore.Response) -> None:
    stream: Any = resp.stream
    if hasattr(stream, "aclose"):
        await stream.aclose()


class _AsyncStream(httpx.AsyncByteStream):
    """The upstream body; closing it finishes the call."""

    def __init__(self, stream: Any, call: Call, status: int) -> None:
        self._stream: Any = stream
        #: None once closed (the call is finished and let go)
        self._call: Call | None = call
        self._status = status

    async def __aiter__(self) -> AsyncIterator[bytes]:
        call = self._call
        if call is None:
            raise httpx.StreamClosed()
        try:
            expires = call.expires()
            if expires == math.inf:
                async for part in self._stream:
                    call.response_bytes += len(part)
                    yield part
                return
            # The route timeout runs until the whole response is in (Envoy's rule); each
            # read is bounded by the attempt's time and the deadline is checked between
            # chunks (a timer per chunk would cost more than the rest of the mesh's work).
            async for part in self._stream:
                if time.monotonic() >= expires:
                    raise httpx.ReadTimeout("upstream request timeout (route timeout)")
                call.response_bytes += len(part)
                yield part
        except Exception as exc:
            raise_as_httpx(exc)

    async def aclose(self) -> None:
        call, stream = self._call, self._stream
        if call is None:
            return  # closed already: the call finished then
        # httpx keeps the response and this stream in a reference cycle: letting go of
        # the call and the upstream stream here frees them (and the request's route view,
        # retry state, httpcore's pool request) by reference counting now, instead of
        # leaving them all to the next cycle collection (50 objects a request -> 25; raw
        # httpx leaves 44).
        self._call = self._stream = None
        try:
            if hasattr(stream, "aclose"):
                await stream.aclose()
        except Exception as exc:
            raise_as_httpx(exc)
        finally:
            call.finish(self._status)


def _identity_backend(identities: Iterable[str], inner: Any = None) -> Any:
    """httpcore's network backend that checks the server's SPIFFE identity after the TLS
    handshake (mesh mTLS pools only; loaded on first use)."""
    from ..security import AsyncSpiffeBackend, SpiffeId

    return AsyncSpiffeBackend([SpiffeId.parse(i) for i in identities], inner)
