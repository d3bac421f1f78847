"""The mesh listener's writes over real mutual TLS: an answer's parts coalesced per turn of
the event loop never hold back a head the app follows with a wait, and a large body
streamed without yielding arrives whole (``inbound/_coalesce.py``)."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from inmesh import MeshMiddleware
from inmesh.inbound import InboundPolicy, protocol_class
from inmesh.security import CertificateAuthority, SpiffeId, TLSHolder, WorkloadTLS
from tests.servers import RunningServer, start_server

FRONTEND = SpiffeId.of("shop", "frontend")
PAYMENTS = SpiffeId.of("shop", "payments")
CHUNK = bytes(range(256)) * 256  # 64 KiB
CHUNKS = 48  # 3 MiB in all, far past the transport's high-water mark


class App:
    """``/wait``: the head, then the body only once the client said it has the head;
    ``/big``: CHUNKS chunks sent back to back (``send`` never waits unless the transport
    pauses writing)."""

    def __init__(self) -> None:
        self.head_seen = threading.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        if scope["path"] == "/wait":
            while not self.head_seen.is_set():  # the client's signal, polled on the loop
                await asyncio.sleep(0.01)
            await send({"type": "http.response.body", "body": b"after the head"})
            return
        for _ in range(CHUNKS):
            await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[CertificateAuthority, Path]:
    base = tmp_path_factory.mktemp("writes-ca")
    return CertificateAuthority.init_root(base / "ca"), base


@pytest.fixture
def served(tls: tuple[CertificateAuthority, Path]) -> Iterator[tuple[RunningServer, App]]:
    ca, _ = tls
    policy = InboundPolicy(namespace="shop", labels={"app": "payments"})
    holder = TLSHolder(WorkloadTLS.build(*ca.issue(PAYMENTS)))
    app = App()
    server = start_server(
        MeshMiddleware(app, policy=policy), http=protocol_class(tls=holder, policy=policy)
    )
    try:
        yield server, app
    finally:
        app.head_seen.set()
        server.stop()


def client(ca: CertificateAuthority) -> httpx.Client:
    return httpx.Client(verify=WorkloadTLS.build(*ca.issue(FRONTEND)).client, timeout=30)


def test_a_head_the_app_follows_with_a_wait_reaches_the_client_first(
    tls: tuple[CertificateAuthority, Path], served: tuple[RunningServer, App]
) -> None:
    server, app = served
    with client(tls[0]) as c, c.stream("GET", f"https://127.0.0.1:{server.port}/wait") as r:
        # the head arrived while the app still waits for this very signal: it was not held
        assert r.status_code == 200
        app.head_seen.set()
        assert r.read() == b"after the head"


def test_a_body_streamed_without_yielding_arrives_whole(
    tls: tuple[CertificateAuthority, Path], served: tuple[RunningServer, App]
) -> None:
    server, _ = served
    with client(tls[0]) as c:
        for _ in range(2):  # and the keep-alive connection serves the next answer
            r = c.get(f"https://127.0.0.1:{server.port}/big")
            assert r.status_code == 200
            assert len(r.content) == len(CHUNK) * CHUNKS
            assert hashlib.sha256(r.content).digest() == hashlib.sha256(CHUNK * CHUNKS).digest()
