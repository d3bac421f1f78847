"""What the mesh puts on the wire, read off a real socket: the application's headers (with
httpx's casing), the propagated ``x-request-id``, the trace headers (W3C + B3 multi) and the
metadata exchange pair, each once and in that order; a request body framed as raw httpx
frames it; and a header h11 refuses is refused through the mesh as through raw httpx
(``httpx.LocalProtocolError``)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

import inmesh
from inmesh.telemetry import TraceContext, Tracing
from inmesh.telemetry._propagation import B3_MULTI, InboundContext, _inbound

ANSWER = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


class HeadServer:
    """A loopback server that keeps the head of every request and answers 200."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.heads: list[bytes] = []
        #: each connection's bytes, whole, once it ended (bodies included)
        self.connections: list[bytes] = []
        self.ended = threading.Semaphore(0)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._conn, args=(conn,), daemon=True).start()

    def _conn(self, conn: socket.socket) -> None:
        buf = b""
        whole = b""
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    self.connections.append(whole)
                    self.ended.release()
                    return
                whole += data
                buf += data
                while b"\r\n\r\n" in buf:
                    head, _, buf = buf.partition(b"\r\n\r\n")
                    self.heads.append(head)
                    conn.sendall(ANSWER)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def server() -> Iterator[HeadServer]:
    s = HeadServer()
    yield s
    s.close()


def config(port: int) -> list[dict[str, Any]]:
    return [
        yaml.safe_load(f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: bench}}
spec:
  hosts: [bench.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints: [{{address: 127.0.0.1, ports: {{http: {port}}}}}]
""")
    ]


def test_the_mesh_s_headers_on_the_wire(server: HeadServer) -> None:
    mesh = inmesh.Mesh(service="client", config=config(server.port), tracing=Tracing(sampling=0))
    ctx = InboundContext(b"req-1", [])
    ctx.trace = TraceContext(
        b"4bf92f3577b34da6a3ce929d0e0e4736", b"00f067aa0ba902b7", False, format=B3_MULTI
    )
    token = _inbound.set(ctx)
    try:
        with mesh.sync_client() as client:
            for _ in range(3):  # the application's headers checked once, then remembered
                assert client.get("http://bench/a", headers={"End-User": "mary"}).text == "ok"
    finally:
        _inbound.reset(token)
    assert len(server.heads) == 3
    for head in server.heads:
        lines = head.split(b"\r\n")
        assert lines[0] == b"GET /a HTTP/1.1"
        names = [line.partition(b":")[0] for line in lines[1:]]
        assert names[:7] == [
            b"Host",
            b"Accept",
            b"Accept-Encoding",
            b"Connection",
            b"User-Agent",
            b"End-User",
            b"x-request-id",
        ]
        assert names[7:] == [  # a trace that came in B3 multi goes on in W3C and B3 multi
            b"traceparent",
            b"x-b3-traceid",
            b"x-b3-spanid",
            b"x-b3-parentspanid",
            b"x-b3-sampled",
            b"x-envoy-peer-metadata-id",
            b"x-envoy-peer-metadata",
        ]
        fields = dict(line.split(b": ", 1) for line in lines[1:])
        assert fields[b"x-request-id"] == b"req-1"
        assert fields[b"traceparent"].startswith(b"00-4bf92f3577b34da6a3ce929d0e0e4736-")
        assert fields[b"traceparent"].endswith(b"-00")
        assert fields[b"x-b3-parentspanid"] == b"00f067aa0ba902b7"
        assert fields[b"x-b3-sampled"] == b"0"


def test_a_header_h11_refuses_is_refused_as_without_the_mesh(server: HeadServer) -> None:
    mesh = inmesh.Mesh(service="client", config=config(server.port), tracing=Tracing(sampling=0))
    bad = {"x-bad": "a\x00b"}
    with httpx.Client() as raw, pytest.raises(httpx.LocalProtocolError) as direct:
        raw.get(f"http://127.0.0.1:{server.port}/", headers=bad)
    with mesh.sync_client() as client, pytest.raises(httpx.LocalProtocolError) as meshed:
        client.get("http://bench/", headers=bad)
    assert str(meshed.value) == str(direct.value)
    assert server.heads == []


def _framing(sent: bytes) -> tuple[list[bytes], bytes]:
    """A request's body framing headers (as sent) and everything after its head."""
    head, _, rest = sent.partition(b"\r\n\r\n")
    framing = [
        line
        for line in head.split(b"\r\n")[1:]
        if line.lower().startswith((b"content-length:", b"transfer-encoding:"))
    ]
    return framing, rest


def _chunks() -> Iterator[bytes]:
    yield b"hello"
    yield b" world"


@pytest.mark.parametrize("body", ["content", "stream"], ids=["content-length", "chunked"])
def test_a_request_body_is_framed_as_without_the_mesh(server: HeadServer, body: str) -> None:
    mesh = inmesh.Mesh(service="client", config=config(server.port), tracing=Tracing(sampling=0))
    with httpx.Client() as raw:
        content = b"hello world" if body == "content" else _chunks()
        assert raw.post(f"http://127.0.0.1:{server.port}/a", content=content).text == "ok"
    assert server.ended.acquire(timeout=10)
    with mesh.sync_client() as client:
        content = b"hello world" if body == "content" else _chunks()
        assert client.post("http://bench/a", content=content).text == "ok"
    assert server.ended.acquire(timeout=10)
    direct, meshed = (_framing(sent) for sent in server.connections)
    assert meshed == direct
    expected = [b"Content-Length: 11"] if body == "content" else [b"Transfer-Encoding: chunked"]
    assert direct[0] == expected


@pytest.mark.parametrize(
    "framing",
    [
        [("Content-Length", "5"), ("Content-Length", "6")],
        [("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")],
        [("Content-Length", "5x")],
    ],
)
def test_bad_body_framing_is_refused_as_without_the_mesh(
    server: HeadServer, framing: list[tuple[str, str]]
) -> None:
    mesh = inmesh.Mesh(service="client", config=config(server.port), tracing=Tracing(sampling=0))
    with httpx.Client() as raw, pytest.raises(httpx.LocalProtocolError) as direct:
        raw.post(f"http://127.0.0.1:{server.port}/", headers=framing, content=b"hello")
    with mesh.sync_client() as client, pytest.raises(httpx.LocalProtocolError) as meshed:
        client.post("http://bench/", headers=framing, content=b"hello")
    assert str(meshed.value) == str(direct.value)
    assert server.heads == []
