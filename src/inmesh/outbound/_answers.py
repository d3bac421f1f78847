"""The call tier's answers: what the application gets back from a call.

Either the upstream's response (its headers edited as the route says, the metadata
exchange headers taken out, the flags added) or a reply of the mesh's own, shaped as an
Istio sidecar gives it (``local_response``: plain text, ``x-envoy-response-flags`` and
``server: envoy``). :class:`Answers` is the part of :class:`~._call.Call` that builds
them; the retry loop that decides which one it is lives in :mod:`._call`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpcore
import httpx

from .._flags import FLAGS_HEADER, UPSTREAM_PER_TRY_TIMEOUT, LocalReply, join_flags, with_reason
from ..resilience import CLASSIFIER, LocalFailure
from ..resilience._retry import header_value
from ..routing import apply_edits
from ._exchange import take_peer

if TYPE_CHECKING:
    from .._state import MeshState
    from ..resilience import RetryState
    from ..routing import Cluster, HeaderEdit
    from ..telemetry._exchange import PeerMetadata
    from ._endpoint import Exchange

__all__ = ["Answers", "local_response"]

_now = time.monotonic
log = logging.getLogger("inmesh.outbound")


def local_response(
    reply: LocalReply, flags: str | None = None, body: str | None = None
) -> httpx.Response:
    """The response an Istio sidecar gives when it ends a request itself."""
    headers = {"content-type": "text/plain", FLAGS_HEADER: flags or reply.flag, "server": "envoy"}
    text = reply.body if body is None else body
    return httpx.Response(reply.status, headers=headers, content=text.encode())


_PRINCIPALS: dict[bytes, str] = {}


def server_principal(extensions: Mapping[str, Any]) -> str:
    """The SPIFFE id (``spiffe://...``) in the verified certificate of the TLS connection
    behind ``extensions`` (httpcore's ``network_stream``), empty when there is none; parsed
    once per certificate."""
    stream = extensions.get("network_stream")
    try:
        ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
        der = ssl_object.getpeercert(True) if ssl_object is not None else None
    except (OSError, ValueError, AttributeError):  # a connection closed meanwhile
        return ""
    if not der:
        return ""
    principal = _PRINCIPALS.get(der)
    if principal is None:
        from ..security import peer_identity

        identity = peer_identity(der)
        principal = identity.uri if identity is not None else ""
        if len(_PRINCIPALS) >= 1024:
            _PRINCIPALS.clear()
        _PRINCIPALS[der] = principal
    return principal


class Answers:
    """The answers of a :class:`~._call.Call` (which holds the state declared here)."""

    #: what the answers write (the rest is the call's)
    __slots__ = ("details", "grpc_status", "peer", "server_principal", "upstream")

    _state: MeshState
    request: httpx.Request
    retry: RetryState
    cluster: Cluster | None
    response_edits: tuple[HeaderEdit, ...]
    exchanging: bool
    set_cookie: str | None
    peer: PeerMetadata | None
    upstream: Mapping[str, Any] | None
    server_principal: str
    grpc_status: str
    _exchange: Exchange | None
    flags: str
    details: str
    error: str

    def finish(self, status: int, flags: str = "") -> None:
        """The request is over (defined by the call)."""
        raise NotImplementedError

    def failure_response(self, failure: LocalFailure) -> httpx.Response:
        """The mesh's answer when the last attempt failed this way (URX added when the
        retries ran out: Envoy prints e.g. ``UF,URX``), with the cause in the body."""
        reply = CLASSIFIER.local_reply(failure)
        details = reply.details
        if failure is LocalFailure.TIMEOUT and not self.retry.deadline.expired(_now()):
            details = UPSTREAM_PER_TRY_TIMEOUT  # the per-try timeout fired, not the route's
        return self.answer(reply, join_flags(reply.flag, self.flags), details=details)

    def answer(
        self, reply: LocalReply, flags: str | None = None, *, details: str | None = None
    ) -> httpx.Response:
        """Finish with a reply of the mesh's own."""
        f = flags or reply.flag
        self.details = details if details is not None else reply.details
        if self.error:
            log.debug(
                "%s %s -> %d %s: %s",
                self.request.method,
                self.request.url,
                reply.status,
                f,
                self.error,
            )
        self.finish(reply.status, f)
        return local_response(reply, f, with_reason(reply, self.error))

    def upstream_response(
        self, resp: httpcore.Response, stream: httpx.SyncByteStream | httpx.AsyncByteStream
    ) -> httpx.Response:
        """The upstream's answer as the application gets it, its body through ``stream``
        (the shell's wrapper, which finishes the call when closed)."""
        self.upstream = resp.extensions
        if self._state.hooks:  # a trailers-only gRPC answer's status, for the record
            self.grpc_status = header_value(resp.headers, b"grpc-status") or ""
        ex = self._exchange
        if ex is not None and ex.workload_tls is not None and self._state.hooks:
            # the server's SPIFFE id from the certificate its handshake verified (Istio's
            # destination_principal on the source side), read while the connection is open
            self.server_principal = server_principal(resp.extensions)
        return httpx.Response(
            status_code=resp.status,
            headers=self.response_headers(resp.headers),
            stream=stream,
            extensions=resp.extensions,
        )

    def response_headers(
        self, headers: list[tuple[bytes, bytes]]
    ) -> httpx.Headers | list[tuple[bytes, bytes]]:
        """The final response's headers: route/destination response edits, a generated
        consistent-hash cookie, and the flags (URX...) when the mesh set any; the pairs
        as they came (``httpx.Response`` makes its ``Headers`` once) when none applies."""
        if self.exchanging:
            # the destination's metadata exchange headers: read, and kept from the app
            headers, self.peer = take_peer(headers)
        if not (self.response_edits or self.set_cookie is not None or self.flags):
            return headers
        h = httpx.Headers(headers)
        if self.response_edits:
            h = apply_edits(self.response_edits, h)
        if self.set_cookie is not None:
            h = httpx.Headers([*h.multi_items(), ("set-cookie", self.set_cookie)])
        if self.flags:
            h[FLAGS_HEADER] = self.flags
        return h
