"""httpcore network streams that wrap another stream, sync and async.

httpcore's pools read, write and start TLS through a network stream; a layer under them
(the identity check after the handshake, the testing toolkit's wire faults) wraps the
stream its inner backend opened. :class:`WrappedStream` and :class:`AsyncWrappedStream`
forward every call to that inner stream and hand the TLS stream ``start_tls`` opens to
``_wrap_tls``, so a wrapper overrides only what it changes. Two classes because httpcore
has two stream interfaces (``NetworkStream`` and ``AsyncNetworkStream``).
"""

from __future__ import annotations

import ssl
from typing import Any

import httpcore

__all__ = ["AsyncWrappedStream", "WrappedStream"]


class WrappedStream(httpcore.NetworkStream):
    """Forwards to ``inner``; the TLS stream of ``start_tls`` goes through ``_wrap_tls``."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return self._wrap_tls(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def _wrap_tls(self, tls: httpcore.NetworkStream) -> httpcore.NetworkStream:
        """The stream ``start_tls`` returns for the inner stream's TLS one (itself here)."""
        return tls

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class AsyncWrappedStream(httpcore.AsyncNetworkStream):
    """The async twin of :class:`WrappedStream`."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        tls = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        return await self._wrap_tls(tls)

    async def _wrap_tls(self, tls: httpcore.AsyncNetworkStream) -> httpcore.AsyncNetworkStream:
        """The stream ``start_tls`` returns for the inner stream's TLS one (itself here)."""
        return tls

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)
