"""The mesh listener for uvicorn: PeerAuthentication per connection and the ASGI TLS extension.

:class:`MeshProtocol` is uvicorn's h11 protocol with a first step per connection: it looks
at the first byte read (Envoy's ``tls_inspector``; 0x16 opens a TLS ClientHello), decides
by the PeerAuthentication mode in force for the port (STRICT: mTLS only, PERMISSIVE: both,
DISABLE: plaintext only; a refused connection is closed), upgrades a TLS connection in
place (``loop.start_tls``'s steps, handing the SSL layer the bytes already read) with the
workload's rotating server context (as ``TLSHolder.server_front``, also keeping the SNI; a
client certificate from the mesh roots is required, as Istio requires it for every mode
but DISABLE), and only then lets h11 read. Each request's scope gets
``scope["extensions"]["tls"]`` (asgiref's TLS extension, which uvicorn 0.54 does not fill)
and ``scope["inmesh.connection"]`` (:class:`InboundConnection`); with h11 0.16 also
``scope["inmesh.answer"]``, the connection (``_h11.py``) on which ``MeshMiddleware`` sets
the workload's metadata exchange pair for the answer, written as rendered once per
workload. Its transport (``_coalesce.py``) writes what uvicorn writes in one turn of the
event loop as one write: an answer is one TLS record and one ``send``, not three.

With ``inmesh serve`` this is automatic. With a plain ``uvicorn`` command, the app is
wrapped in ``MeshMiddleware(app, mesh=mesh)`` and the listener follows that Mesh (its
configuration, and its certificate in ``mesh.tls``)::

    uvicorn app:app --http inmesh.inbound:MeshProtocol --no-proxy-headers

or build the config in code: ``uvicorn.Server(inmesh.inbound.uvicorn_config(app, tls=...,
policy=...))``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from ._coalesce import CoalescingTransport
from ._h11 import MeshH11Connection, connection_class
from ._mtls_mode import DISABLE, STRICT
from ._peer import ANSWER_KEY, CONNECTION_KEY, InboundConnection, Peer

if TYPE_CHECKING:
    import uvicorn

    from ..security import TLSHolder
    from ._policy import InboundPolicy

__all__ = ["MeshProtocol", "Sources", "protocol_class", "uvicorn_config"]

log = logging.getLogger("inmesh.inbound")

_TLS_HANDSHAKE = 0x16  # inmesh.security.is_tls_client_hello, inlined on the accept path
_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}
_HANDSHAKE_TIMEOUT = 10  # seconds; Envoy's listener default for the TLS inspector is 15 s
_CIPHER_IDS: dict[str, int] = {}


def _find_mesh(app: Any) -> Any:
    """The Mesh of the ``MeshMiddleware`` that ``app`` is (or wraps, through middleware
    that keep the next app in ``.app``, as uvicorn's and Starlette's do), else the
    process's current Mesh (``inmesh serve``)."""
    from .._current import _current
    from .._middleware import MeshMiddleware

    for _ in range(16):
        if isinstance(app, MeshMiddleware):
            return app.mesh
        app = getattr(app, "app", None)
        if app is None:
            break
    return _current


def _default_sources(app: Any) -> Sources:
    from ._policy import InboundPolicy

    mesh = _find_mesh(app)
    if mesh is None:
        return Sources(tls=lambda: None, policy=lambda: None)
    policy = InboundPolicy.for_mesh(mesh)
    return Sources(tls=lambda: getattr(mesh, "tls", None), policy=lambda: policy)


def _cipher_id(ssl_object: ssl.SSLObject) -> int | None:
    cipher = ssl_object.cipher()
    if cipher is None:
        return None
    if not _CIPHER_IDS:
        for c in ssl_object.context.get_ciphers():
            _CIPHER_IDS[c["name"]] = c["id"] & 0xFFFF  # OpenSSL id: 0x0300 + the IANA value
    return _CIPHER_IDS.get(cipher[0])


def _tls_facts(
    ssl_object: ssl.SSLObject, local_uri: str | None
) -> tuple[dict[str, Any], InboundConnection]:
    """The asgiref TLS extension and the connection's identity, once per connection
    (``local_uri``: this workload's SPIFFE id, the XFCC element's ``By``)."""
    from cryptography import x509

    from ..security import peer_identity
    from ._xfcc import client_cert_details

    der = ssl_object.getpeercert(True)
    chain: list[str] = []
    name: str | None = None
    peer: Peer | None = None
    details = b""
    if der:
        details = client_cert_details(der, local_uri=local_uri)
        chain.append(ssl.DER_cert_to_PEM_cert(der))
        name = x509.load_der_x509_certificate(der).subject.rfc4514_string()
        identity = peer_identity(der)
        peer = Peer.from_identity(identity) if identity is not None else None
    version = ssl_object.version()
    extension = {
        "server_cert": None,
        # Python < 3.13 exposes only the peer's leaf certificate, not the verified chain
        "client_cert_chain": chain,
        "client_cert_name": name,
        "client_cert_error": None,  # a certificate that fails verification fails the handshake
        "tls_version": _TLS_VERSIONS.get(version) if version else None,
        "cipher_suite": _cipher_id(ssl_object),
    }
    sni = getattr(ssl_object, _SNI_ATTRIBUTE, None)
    return extension, InboundConnection(
        mtls=bool(der), peer=peer, sni=sni, client_cert_details=details
    )


_SNI_ATTRIBUTE = "inmesh_sni"
_FRONTS: weakref.WeakKeyDictionary[TLSHolder, ssl.SSLContext] = weakref.WeakKeyDictionary()


def _front(holder: TLSHolder) -> ssl.SSLContext:
    """``holder.server_front()``'s twin that also keeps the server name the client asked
    for (Istio's ``connection.sni``), which a server-side ``SSLObject`` does not expose."""
    front = _FRONTS.get(holder)
    if front is None:
        first = holder.current().server
        front = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        front.minimum_version = first.minimum_version
        front.verify_mode = first.verify_mode

        def switch(conn: Any, name: str | None, _ctx: ssl.SSLContext) -> None:
            conn.context = holder.current().server  # the current certificate (rotation)
            setattr(conn, _SNI_ATTRIBUTE, name)

        front.sni_callback = switch
        _FRONTS[holder] = front
    return front


_PLAINTEXT = InboundConnection(mtls=False)


@dataclass(frozen=True, slots=True)
class Sources:
    """Callables returning the workload's current ``TLSHolder`` and ``InboundPolicy``."""

    tls: Callable[[], TLSHolder | None]
    policy: Callable[[], InboundPolicy | None]


class MeshProtocol(H11Protocol):
    """uvicorn's h11 protocol behind the mesh's PeerAuthentication (see the module)."""

    #: Where the certificate and the policy come from; ``None``: the Mesh of the app's
    #: ``MeshMiddleware``, else the process's current Mesh (see :func:`protocol_class`).
    sources: ClassVar[Sources | None] = None

    # The listener's own state in slots: uvicorn's H11Protocol keeps 25 attributes in the
    # instance dict and CPython (3.11+) shares one key table per class up to 30 keys; past
    # that every instance's dict is materialized and each attribute access in uvicorn's
    # per-request methods takes the slower dict path (docs/performance.md, "branches").
    __slots__ = (
        "_answer_to",
        "_connection",
        "_handshaking",
        "_inner_app",
        "_pending",
        "_raw",
        "_ready",
        "_sources",
        "_tls_extension",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # the same h11 connection, each answer's headers validated once (_h11.py): made
        # anew with uvicorn's settings rather than by assigning __class__, which would
        # materialize the connection's instance dict (CPython 3.11+) and leave h11's
        # attribute accesses unspecialized for the connection's life
        cls = connection_class()
        if type(self.conn) is not cls:
            self.conn = cls(h11.SERVER, self.conn._max_incomplete_event_size)
        self._answer_to = self.conn if isinstance(self.conn, MeshH11Connection) else None
        self._inner_app = self.app
        self._sources = self.sources or _default_sources(self.app)
        self.app = self._with_connection
        self._raw: asyncio.Transport | None = None
        self._ready = False
        self._pending: list[bytes] = []
        self._handshaking = False
        self._tls_extension: dict[str, Any] | None = None
        self._connection = _PLAINTEXT

    def _with_connection(self, scope: Any, receive: Any, send: Any) -> Any:
        # a plain function returning the app's coroutine, which uvicorn awaits: no
        # coroutine of its own between uvicorn and the app (one frame less on every await)
        if self._tls_extension is not None:
            extensions = scope.get("extensions")
            if extensions is None:
                scope["extensions"] = {"tls": self._tls_extension}
            else:
                extensions["tls"] = self._tls_extension
        scope[CONNECTION_KEY] = self._connection
        answer_to = self._answer_to
        if answer_to is not None:
            # MeshMiddleware sets the workload's pair on it when its own send is this one
            # (nothing in between to change the answer's headers after the pair: _h11.py)
            answer_to.inmesh_send = send
            scope[ANSWER_KEY] = answer_to
        return self._inner_app(scope, receive, send)

    # -- the first step: sniff, decide, maybe handshake -----------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.connections.add(self)
        self._raw = transport

    def _refuse(self, why: str) -> None:
        log.info("inbound connection from %s refused: %s", self._peer_address(), why)
        if self._raw is not None:
            self._raw.close()

    def _peer_address(self) -> str:
        peer = self._raw.get_extra_info("peername") if self._raw is not None else None
        return f"{peer[0]}:{peer[1]}" if peer else "?"

    def data_received(self, data: bytes) -> None:
        if self._ready:
            super().data_received(data)
        elif self._handshaking:  # decrypted data that came with the end of the handshake
            self._pending.append(data)
        else:
            self._first_bytes(data)

    def _first_bytes(self, data: bytes) -> None:
        raw = self._raw
        assert raw is not None
        port = (raw.get_extra_info("sockname") or (None, None))[1]
        policy = self._sources.policy()
        mode = policy.current().mtls.mode_for(port) if policy is not None else "PERMISSIVE"
        if data[0] == _TLS_HANDSHAKE:
            if mode == DISABLE:
                self._refuse("TLS on a port whose PeerAuthentication mode is DISABLE")
                return
            holder = self._sources.tls()
            if holder is None:
                self._refuse("TLS, but this workload has no certificate")
                return
            self._start_tls(raw, _front(holder), data)
            return
        if mode == STRICT:
            # PeerAuthentication STRICT: plaintext is refused at the connection (Envoy has
            # no plaintext filter chain on the port).
            self._refuse("plaintext on a port whose PeerAuthentication mode is STRICT")
            return
        self._begin(raw)
        super().data_received(data)

    def _start_tls(self, raw: asyncio.Transport, context: ssl.SSLContext, first: bytes) -> None:
        """``loop.start_tls``, but handing the SSL layer the bytes already read (the
        ClientHello's first chunk, which the sniff consumed)."""
        from asyncio import sslproto

        self._handshaking = True
        waiter: asyncio.Future[None] = self.loop.create_future()
        tls = sslproto.SSLProtocol(
            self.loop,
            self,
            context,
            waiter,
            server_side=True,
            call_connection_made=False,
            ssl_handshake_timeout=_HANDSHAKE_TIMEOUT,
        )
        raw.set_protocol(tls)
        tls.connection_made(raw)
        if isinstance(tls, asyncio.BufferedProtocol):  # Python >= 3.11
            view = memoryview(first)
            while view:
                buffer = tls.get_buffer(len(view))
                n = min(len(buffer), len(view))
                buffer[:n] = view[:n]
                tls.buffer_updated(n)
                view = view[n:]
        else:
            tls.data_received(first)
        task = self.loop.create_task(self._handshake_done(raw, tls, waiter))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _handshake_done(
        self, raw: asyncio.Transport, tls: Any, waiter: asyncio.Future[None]
    ) -> None:
        try:
            await waiter
        except (OSError, ssl.SSLError, asyncio.TimeoutError, ConnectionError) as exc:
            log.info("inbound TLS handshake from %s failed: %s", self._peer_address(), exc)
            raw.close()
            self.connections.discard(self)
            return
        transport: asyncio.Transport = tls._app_transport
        if transport.is_closing():
            self.connections.discard(self)
            return
        ssl_object = transport.get_extra_info("ssl_object")
        holder = self._sources.tls()
        local = holder.current().identity.uri if holder is not None else None
        self._tls_extension, self._connection = _tls_facts(ssl_object, local)
        self._begin(transport)

    def _begin(self, transport: asyncio.Transport) -> None:
        # uvicorn writes an answer in three writes: one, through the coalescing transport
        super().connection_made(CoalescingTransport(transport, self.loop))
        self._ready = True
        # From now on every chunk goes straight to h11 (the transport looks the method up
        # per chunk): one Python call less per read.
        self.data_received = super().data_received  # type: ignore[method-assign]
        pending, self._pending = self._pending, []
        for data in pending:
            super().data_received(data)

    def on_response_complete(self) -> None:
        transport = self.transport
        if type(transport) is CoalescingTransport:
            transport.flush()  # the whole answer goes out now, in one write
        super().on_response_complete()

    # -- until h11 takes over -------------------------------------------------------------

    def connection_lost(self, exc: Exception | None) -> None:
        if self._ready:
            super().connection_lost(exc)
        else:
            self.connections.discard(self)

    def shutdown(self) -> None:
        if self._ready:
            super().shutdown()
        else:
            self.connections.discard(self)
            if self._raw is not None:
                self._raw.close()


def protocol_class(
    *,
    tls: TLSHolder | Callable[[], TLSHolder | None] | None,
    policy: InboundPolicy | Callable[[], InboundPolicy | None] | None,
) -> type[MeshProtocol]:
    """A :class:`MeshProtocol` bound to ``tls`` and ``policy`` (objects, or callables
    returning the current one, e.g. ``lambda: mesh.tls``)."""
    tls_provider = tls if callable(tls) else (lambda: tls)
    policy_provider = policy if callable(policy) else (lambda: policy)
    return type(
        "MeshProtocol",
        (MeshProtocol,),
        {"sources": Sources(tls=tls_provider, policy=policy_provider)},
    )


def uvicorn_config(
    app: Any,
    *,
    tls: TLSHolder | Callable[[], TLSHolder | None] | None,
    policy: InboundPolicy | Callable[[], InboundPolicy | None] | None,
    **kwargs: Any,
) -> uvicorn.Config:
    """A ``uvicorn.Config`` for ``app`` served by the mesh listener (``kwargs`` go to it)."""
    import uvicorn

    return uvicorn.Config(app, http=protocol_class(tls=tls, policy=policy), **kwargs)
