"""The sync shell: an httpx transport that runs the step driver with blocking I/O."""

from __future__ import annotations

import math
import ssl
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor


class SyncMeshTransport(httpx.BaseTransport):
    """An httpx sync transport that routes every request through the mesh."""

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
            httpcore.ConnectionPool,
            verify=verify,
            cert=cert,
            limits=limits,
            http1=http1,
            http2=http2,
            trust_env=trust_env,
            identity_backend=_identity_backend,
            network_backend=state.network.sync_backend if state.network is not None else None,
        )
        self._mirror_pool: ThreadPoolExecutor | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        call, mirrors = self._route.start(request)
        if mirrors:
            if self._mirror_pool is None:
                from concurrent.futures import ThreadPoolExecutor  # only with mirrors

                self._mirror_pool = ThreadPoolExecutor(4, thread_name_prefix="inmesh-mirror")
            for m in mirrors:
                self._mirror_pool.submit(self._mirror, m)
        if isinstance(call, httpx.Response):
            return call
        try:
            return self._run(call)
        except BaseException:
            # the application gave up (interrupted, or its own timeout): Envoy's DC
            call.finish(0, join_flags(call.flags, DC))
            raise

    def _run(self, call: Call) -> httpx.Response:
        driver = steps(call)
        result: Result = None
        try:
            while True:
                cmd = driver.send(result)
                result = None
                if isinstance(cmd, Exchange):
                    result = self._send(cmd)
                elif isinstance(cmd, httpcore.Response):
                    cmd.close()
                else:
                    time.sleep(cmd)
        except StopIteration as stop:
            final = stop.value
        if isinstance(final, httpx.Response):
            return final
        return call.upstream_response(final, _SyncStream(final.stream, call, final.status))

    def _send(self, ex: Exchange) -> httpcore.Response | Exception:
        # A blocking read cannot be interrupted: the attempt is bounded by httpcore's
        # per-phase timeouts, each capped to the attempt's time (endpoint tier).
        try:
            if self._pools.retiring:  # pools a new snapshot no longer uses
                for old in self._pools.idle_retired():
                    old.close()
            return self._pools.get(ex).handle_request(ex.core)  # type: ignore[no-any-return]
        except Exception as exc:
            return exc

    def _mirror(self, call: Call) -> None:
        """Send a mirror copy; its answer (or failure) is discarded."""
        status, flags = 0, DC
        try:
            ex = call.next_attempt()
            if isinstance(ex, httpx.Response):
                return
            resp = self._pools.get(ex).handle_request(ex.core)
            resp.read()
            resp.close()
            status, flags = resp.status, ""
        except Exception:
            flags = UF
        finally:
            call.finish(status, flags)

    def close(self) -> None:
        if self._mirror_pool is not None:
            # queued copies never start (nothing was sent or counted for them)
            self._mirror_pool.shutdown(wait=False, cancel_futures=True)
        for pool in self._pools.take_all():
            pool.close()


class _SyncStream(httpx.SyncByteStream):
    """The upstream body; closing it finishes the call."""

    def __init__(self, stream: Any, call: Call, status: int) -> None:
        self._stream: Any = stream
        #: None once closed (the call is finished and let go)
        self._call: Call | None = call
        self._status = status

    def __iter__(self) -> Iterator[bytes]:
        call = self._call
        if call is None:
            raise httpx.StreamClosed()
        try:
            expires = call.expires()
            if expires == math.inf:
                for part in self._stream:
                    call.response_bytes += len(part)
                    yield part
                return
            # The route timeout covers the whole response: each read is bounded by the
            # attempt's time and the deadline is checked between chunks.
            for part in self._stream:
                if time.monotonic() >= expires:
                    raise httpx.ReadTimeout("upstream request timeout (route timeout)")
                call.response_bytes += len(part)
                yield part
        except Exception as exc:
            raise_as_httpx(exc)

    def close(self) -> None:
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
            if hasattr(stream, "close"):
                stream.close()
        except Exception as exc:
            raise_as_httpx(exc)
        finally:
            call.finish(self._status)


def _identity_backend(identities: Iterable[str], inner: Any = None) -> Any:
    """httpcore's network backend that checks the server's SPIFFE identity after the TLS
    handshake (mesh mTLS pools only; loaded on first use)."""
    from ..security import SpiffeBackend, SpiffeId

    return SpiffeBackend([SpiffeId.parse(i) for i in identities], inner)
