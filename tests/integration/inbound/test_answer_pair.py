"""The workload's metadata exchange pair in its answers: the mesh listener writes it
rendered once per workload (``MeshH11Connection.inmesh_pair``, ``inbound/_h11.py``), and the bytes
on the wire are the ones of the ordinary path (the pair in the app's headers, validated by
h11 with the rest), for every framing case, over real sockets."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest

import inmesh
from inmesh import MeshMiddleware
from inmesh.inbound import MeshProtocol
from inmesh.inbound._h11 import MeshH11Connection
from tests.servers import RunningServer, start_server

pytestmark = pytest.mark.integration

PEER_ID = b"sidecar~127.0.0.1~front-v1.shop~shop.svc.cluster.local"
PEER_METADATA = b"Co4BCgZMQUJFTFMSgwEqgAEKEQoDYXBwEgoaCGZyb250"  # labels are claims
EXCHANGE = b"x-envoy-peer-metadata-id: " + PEER_ID + b"\r\nx-envoy-peer-metadata: " + PEER_METADATA
REQUESTS = {
    "keep-alive": b"GET /%s HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n",
    "close": b"GET /%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n\r\n",
    "head": b"HEAD /%s HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n",
    "http/1.0": b"GET /%s HTTP/1.0\r\n%s\r\n\r\n",
}
ANSWERS: dict[str, list[tuple[bytes, bytes]]] = {
    "none": [],
    "no-length": [(b"content-type", b"application/json")],
    "length": [(b"Content-Type", b"text/plain"), (b"content-length", b"5")],
    "app-close": [(b"x-app", b"1"), (b"connection", b"close")],
    "chunked": [(b"transfer-encoding", b"chunked")],
}


async def app(scope: Any, receive: Any, send: Any) -> None:
    name = scope["path"].strip("/")
    if name == "raise":  # before answering: uvicorn answers 500
        raise RuntimeError("the app failed")
    await send({"type": "http.response.start", "status": 200, "headers": ANSWERS[name]})
    await send({"type": "http.response.body", "body": b"hello"})


def wrapped(inner: Any) -> Any:
    """An outer middleware that wraps ``send``: the listener cannot know what it does to
    the answer, so the pair goes in the app's headers (the ordinary path)."""

    async def outer(scope: Any, receive: Any, send: Any) -> None:
        async def passing(message: Any) -> None:
            await send(message)

        await inner(scope, receive, passing)

    return outer


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[RunningServer, RunningServer, inmesh.Mesh]]:
    mesh = inmesh.Mesh(service="payments", namespace="shop", labels={"app": "payments"})
    assert mesh._state.exchange  # this workload answers a mesh peer with its own pair
    spliced = start_server(MeshMiddleware(app, mesh=mesh), http=MeshProtocol)
    ordinary = start_server(wrapped(MeshMiddleware(app, mesh=mesh)), http=MeshProtocol)
    try:
        yield spliced, ordinary, mesh
    finally:
        spliced.stop()
        ordinary.stop()


def answer(port: int, request: bytes) -> bytes:
    """The whole answer to ``request`` on a new connection (read until the server closes
    or the body is in), with the Date header's value blanked."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while True:
            chunk = sock.recv(65536)
            data += chunk
            if (
                not chunk
                or data.endswith((b"hello", b"0\r\n\r\n"))
                or (request.startswith(b"HEAD") and data.endswith(b"\r\n\r\n"))
            ):
                break
    return re.sub(rb"date: [^\r]*", b"date: -", data)


@pytest.mark.parametrize("request_name", sorted(REQUESTS))
@pytest.mark.parametrize("answer_name", sorted(ANSWERS))
def test_same_bytes_as_the_ordinary_path(
    pair: tuple[RunningServer, RunningServer, inmesh.Mesh],
    request_name: str,
    answer_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spliced, ordinary, mesh = pair
    splices: list[Any] = []
    clean_up = MeshH11Connection._clean_up_response_headers_for_sending

    def counting(self: MeshH11Connection, response: Any) -> Any:
        if self.inmesh_pair is not None:
            splices.append(self.inmesh_pair)
        return clean_up(self, response)

    monkeypatch.setattr(MeshH11Connection, "_clean_up_response_headers_for_sending", counting)
    request = REQUESTS[request_name] % (answer_name.encode(), EXCHANGE)
    ours = answer(spliced.port, request)
    assert len(splices) == 1  # the listener wrote the pair
    theirs = answer(ordinary.port, request)
    assert len(splices) == 1  # the outer middleware's send: the ordinary path
    assert ours == theirs
    id_header, metadata_header = mesh._state.exchange
    assert id_header[0] + b": " + id_header[1] + b"\r\n" in ours
    assert metadata_header[0] + b": " + metadata_header[1] + b"\r\n" in ours


def test_no_pair_for_a_caller_that_sent_none(
    pair: tuple[RunningServer, RunningServer, inmesh.Mesh],
) -> None:
    spliced, ordinary, _ = pair
    request = REQUESTS["keep-alive"] % (b"length", b"x-other: 1")
    ours = answer(spliced.port, request)
    assert ours == answer(ordinary.port, request)
    assert b"x-envoy-peer-metadata" not in ours


def test_an_app_that_raises_gets_uvicorns_500_without_the_pair(
    pair: tuple[RunningServer, RunningServer, inmesh.Mesh],
) -> None:
    """The pair set for the answer is cleared when the app raises before answering, as
    the ordinary path never adds it: uvicorn's 500 is the same on both."""
    spliced, ordinary, _ = pair
    request = REQUESTS["keep-alive"] % (b"raise", EXCHANGE)
    ours = answer(spliced.port, request)
    assert ours.startswith(b"HTTP/1.1 500 ")
    assert ours == answer(ordinary.port, request)
    assert b"x-envoy-peer-metadata" not in ours


def test_on_one_connection_only_the_answers_to_a_mesh_peer_carry_the_pair(
    pair: tuple[RunningServer, RunningServer, inmesh.Mesh],
) -> None:
    spliced, _, _ = pair
    with socket.create_connection(("127.0.0.1", spliced.port), timeout=5) as sock:
        answers = []
        for extra in (EXCHANGE, b"x-other: 1", EXCHANGE, b"x-other: 1"):
            sock.sendall(REQUESTS["keep-alive"] % (b"length", extra))
            data = b""
            while not data.endswith(b"hello"):
                data += sock.recv(65536)
            answers.append(data)
    assert [b"x-envoy-peer-metadata" in data for data in answers] == [True, False, True, False]
