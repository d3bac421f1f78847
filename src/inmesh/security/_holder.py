"""The workload's current certificate and TLS contexts, swapped in place on rotation.

A rotation builds a new :class:`WorkloadTLS` and :meth:`TLSHolder.swap` installs it with one
assignment: connections already open keep the context they were made with, new ones get
the new one (:meth:`TLSHolder.current`). A server fixed to one ``SSLContext`` (asyncio,
uvicorn) uses :meth:`TLSHolder.server_front`, whose SNI callback moves each new connection
onto the current server context during its handshake.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from ._bundle import TrustBundle
from ._identity import SpiffeId
from ._keys import PrivateKey
from ._tls import client_context, server_context
from ._x509 import IssuedCertificate

__all__ = ["TLSHolder", "WorkloadTLS"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkloadTLS:
    """One certificate generation: the identity, the leaf's validity and both contexts."""

    identity: SpiffeId
    not_before: float
    not_after: float
    bundle: TrustBundle
    client: ssl.SSLContext
    server: ssl.SSLContext

    @classmethod
    def build(
        cls, key: PrivateKey, issued: IssuedCertificate, *, bundle: TrustBundle | None = None
    ) -> WorkloadTLS:
        """Contexts for ``issued`` (signed for ``key``), trusting ``bundle`` (default: the
        roots issued with it)."""
        roots = bundle if bundle is not None else TrustBundle.from_pem(issued.root_pem)
        return cls(
            identity=issued.identity,
            not_before=issued.not_before,
            not_after=issued.not_after,
            bundle=roots,
            client=client_context(chain_pem=issued.chain_pem, key=key, bundle=roots),
            server=server_context(chain_pem=issued.chain_pem, key=key, bundle=roots),
        )


class TLSHolder:
    """Holds the current :class:`WorkloadTLS`; reading it is one attribute load."""

    def __init__(self, initial: WorkloadTLS) -> None:
        self._current = initial
        self._generation = 0
        self._front: ssl.SSLContext | None = None

    def current(self) -> WorkloadTLS:
        return self._current

    @property
    def generation(self) -> int:
        """How many times a new certificate was swapped in."""
        return self._generation

    def swap(self, new: WorkloadTLS) -> None:
        """Use ``new`` for every connection made from now on."""
        if new.identity != self._current.identity:
            raise ValueError(
                f"a rotation keeps the identity: {self._current.identity} -> {new.identity}"
            )
        self._current = new
        self._generation += 1

    def server_front(self) -> ssl.SSLContext:
        """A server context to hand to a server once; each handshake is switched to
        :meth:`current`'s server context by its SNI callback, so rotations need no restart."""
        if self._front is None:
            first = self._current.server
            front = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            front.minimum_version = first.minimum_version
            front.verify_mode = first.verify_mode

            def _switch(
                conn: ssl.SSLObject | ssl.SSLSocket, _name: str | None, _ctx: ssl.SSLContext
            ) -> None:
                conn.context = self._current.server

            front.sni_callback = _switch
            self._front = front
        return self._front
