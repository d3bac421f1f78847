"""httpcore network backends that verify the server's SPIFFE identity after the handshake.

This is how ISTIO_MUTUAL checks a server "by identity, not host name" with Python's ssl:
the context verifies the chain against the mesh roots (``CERT_REQUIRED``,
``check_hostname=False``); the stream wrapper's ``start_tls`` then reads the peer
certificate (``ssl_object.getpeercert(binary_form=True)``) and compares its URI SAN with
the identities this pool accepts, closing the connection and raising
``httpcore.ConnectError`` when it is not one of them. The check happens inside httpcore's
connect step, so a wrong identity is a connect failure and no request byte is sent.
A pool is made per destination (its endpoint and accepted identities), so each gets a
backend with its own ``allowed`` set.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpcore

from .._streams import AsyncWrappedStream, WrappedStream
from ._identity import SpiffeId
from ._peer import PeerIdentityError, verify_peer

__all__ = ["AsyncSpiffeBackend", "SpiffeBackend"]

_SocketOption = httpcore.SOCKET_OPTION


def _check(
    stream: httpcore.NetworkStream | httpcore.AsyncNetworkStream, allowed: frozenset[SpiffeId]
) -> SpiffeId:
    ssl_object = stream.get_extra_info("ssl_object")
    if ssl_object is None:
        raise httpcore.ConnectError("ISTIO_MUTUAL: the connection is not TLS")
    try:
        return verify_peer(ssl_object, allowed)
    except PeerIdentityError as exc:
        raise httpcore.ConnectError(f"ISTIO_MUTUAL: {exc.args[0]}") from exc


class _Stream(WrappedStream):
    def __init__(self, inner: httpcore.NetworkStream, allowed: frozenset[SpiffeId]) -> None:
        super().__init__(inner)
        self._allowed = allowed

    def _wrap_tls(self, tls: httpcore.NetworkStream) -> httpcore.NetworkStream:
        try:
            _check(tls, self._allowed)
        except BaseException:
            tls.close()
            raise
        return tls


class _AsyncStream(AsyncWrappedStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream, allowed: frozenset[SpiffeId]) -> None:
        super().__init__(inner)
        self._allowed = allowed

    async def _wrap_tls(self, tls: httpcore.AsyncNetworkStream) -> httpcore.AsyncNetworkStream:
        try:
            _check(tls, self._allowed)
        except BaseException:
            await tls.aclose()
            raise
        return tls


class SpiffeBackend(httpcore.NetworkBackend):
    """Wraps a sync backend (default: httpcore's sync one); TLS streams it opens must be
    one of ``allowed`` (empty: any identity the mesh CA issued)."""

    def __init__(
        self, allowed: Iterable[SpiffeId], inner: httpcore.NetworkBackend | None = None
    ) -> None:
        self.allowed = frozenset(allowed)
        self._inner = inner if inner is not None else httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[_SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _Stream(stream, self.allowed)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[_SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_unix_socket(path, timeout, socket_options), self.allowed)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class AsyncSpiffeBackend(httpcore.AsyncNetworkBackend):
    """The async twin of :class:`SpiffeBackend` (default inner: httpcore's auto backend)."""

    def __init__(
        self, allowed: Iterable[SpiffeId], inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self.allowed = frozenset(allowed)
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[_SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _AsyncStream(stream, self.allowed)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[_SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_unix_socket(path, timeout, socket_options)
        return _AsyncStream(stream, self.allowed)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
