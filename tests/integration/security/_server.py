"""A tiny threaded HTTP/1.1 server on 127.0.0.1 speaking mesh mTLS, for real handshakes.

STRICT serves only TLS (a plaintext connection is closed); PERMISSIVE tells TLS from
plaintext by peeking at the first byte. Each answer's body names the peer identity the
server read from the verified client certificate (``-`` for plaintext). ``events`` records
what happened to each connection, in order.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from inmesh.security import is_tls_client_hello, peer_identity


@dataclass
class MeshServer:
    context: Callable[[], ssl.SSLContext]
    mode: str = "STRICT"
    events: list[tuple[str, str]] = field(default_factory=list)
    requests: int = 0

    def __post_init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._stop = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def record(self, what: str, peer: str) -> None:
        with self._changed:
            self.events.append((what, peer))
            self._changed.notify_all()

    def wait_events(self, count: int) -> list[tuple[str, str]]:
        """The events once there are ``count`` of them (the server runs in threads)."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.events) >= count, timeout=10)
            return list(self.events)

    def close(self) -> None:
        self._stop = True
        self._sock.close()

    def __enter__(self) -> MeshServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        stream: socket.socket = conn
        try:
            first = conn.recv(1, socket.MSG_PEEK)
            if not first:
                return
            if is_tls_client_hello(first):
                try:
                    tls = self.context().wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError) as exc:
                    self.record("handshake-failed", type(exc).__name__)
                    return
                stream = tls
                who = peer_identity(tls.getpeercert(binary_form=True))
                peer = str(who) if who else "-"
                self.record("tls", peer)
            elif self.mode == "PERMISSIVE":
                peer = "-"
                self.record("plaintext", peer)
            else:
                self.record("refused-plaintext", "-")
                return
            self._http(stream, peer)
        finally:
            stream.close()

    def _http(self, stream: socket.socket, peer: str) -> None:
        buffer = b""
        while True:
            try:
                chunk = stream.recv(65536)
            except (OSError, ssl.SSLError):
                return
            if not chunk:
                return
            buffer += chunk
            while b"\r\n\r\n" in buffer:
                _, buffer = buffer.split(b"\r\n\r\n", 1)
                self.requests += 1
                body = peer.encode()
                stream.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                )
