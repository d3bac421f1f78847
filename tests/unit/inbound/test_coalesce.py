"""The listener's coalescing transport: the writes of one event-loop turn go out as one,
and uvicorn's protocol, behind it, writes each answer once with the bytes it writes in three."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from inmesh.inbound import MeshProtocol
from inmesh.inbound._coalesce import FLUSH_AT, CoalescingTransport


class Recording(asyncio.Transport):
    """A transport that keeps each write (a socket's stand-in)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False
        self.reading = True
        self.eof = False

    def write(self, data: Any) -> None:
        assert not self.closed, "written after close"
        if self.eof:  # as asyncio's socket transport
            raise RuntimeError("Cannot call write() after write_eof()")
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = self.closed = True

    def write_eof(self) -> None:
        self.eof = True

    def can_write_eof(self) -> bool:
        return True

    def get_write_buffer_size(self) -> int:
        return 7

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(
            name, default
        )


def run(body: Callable[[asyncio.AbstractEventLoop], Coroutine[Any, Any, None]]) -> None:
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(body(loop))
    finally:
        loop.close()


async def turn() -> None:
    """Let the event loop run what is ready (one turn and a spare)."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def test_the_writes_of_one_turn_go_out_as_one_at_the_next() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        raw = Recording()
        t = CoalescingTransport(raw, loop)
        t.write(b"HTTP/1.1 200 OK\r\n\r\n")
        t.write(bytearray(b"c\r\nhello"))
        t.write(b"")  # nothing: no write, no turn of its own
        t.write(memoryview(b" world\r\n"))
        assert raw.writes == []
        assert t.get_write_buffer_size() == 7 + 35
        await turn()
        assert raw.writes == [b"HTTP/1.1 200 OK\r\n\r\nc\r\nhello world\r\n"]
        assert t.get_write_buffer_size() == 7
        t.write(b"next")  # a later turn: its own write
        await turn()
        assert raw.writes[1:] == [b"next"]

    run(body)


def test_a_buffer_is_copied_when_held() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        raw = Recording()
        t = CoalescingTransport(raw, loop)
        buffer = bytearray(b"abc")
        t.write(buffer)
        buffer[:] = b"xyz"  # the caller reuses its buffer once write returns
        t.flush()
        assert raw.writes == [b"abc"]

    run(body)


def test_flush_writes_now_and_the_turns_flush_finds_nothing() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        raw = Recording()
        t = CoalescingTransport(raw, loop)
        t.write(b"head")
        t.write(b"body")
        t.flush()
        assert raw.writes == [b"headbody"]
        await turn()
        assert raw.writes == [b"headbody"]

    run(body)


def test_a_write_of_the_threshold_alone_goes_out_as_it_is() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        raw = Recording()
        t = CoalescingTransport(raw, loop)
        big = b"y" * FLUSH_AT
        t.write(big)
        assert raw.writes == [big]  # nothing to join it with: not held, not copied
        assert raw.writes[0] is big
        await turn()
        assert raw.writes == [big]

    run(body)


def test_a_large_write_after_held_bytes_follows_them_as_it_is() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        raw = Recording()
        t = CoalescingTransport(raw, loop)
        big = b"y" * FLUSH_AT
        t.write(b"head")
        t.write(big)
        assert raw.writes == [b"head", big]  # in order, the large one not joined (copied)
        assert raw.writes[1] is big
        await turn()
        assert raw.writes == [b"head", big]

    run(body)


def test_held_bytes_go_out_once_they_reach_the_threshold() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        raw = Recording()
        t = CoalescingTransport(raw, loop)
        chunk = b"x" * (FLUSH_AT // 4)
        for _ in range(4):
            t.write(chunk)
        # written at once, before the loop turns: a body streamed without yielding is not
        # held whole and meets the transport's flow control
        assert raw.writes == [chunk * 4]
        t.write(b"tail")
        assert raw.writes == [chunk * 4]
        await turn()
        assert raw.writes == [chunk * 4, b"tail"]

    run(body)


def test_close_and_write_eof_write_what_is_held_first() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        raw = Recording()
        t = CoalescingTransport(raw, loop)
        t.write(b"last words")
        t.write_eof()
        assert raw.writes == [b"last words"] and raw.eof
        raw = Recording()
        t = CoalescingTransport(raw, loop)
        t.write(b"bye")
        t.close()
        assert raw.writes == [b"bye"] and raw.closed and t.is_closing()
        t.write(b"late")  # after close: dropped at the flush, as the transport would
        await turn()
        assert raw.writes == [b"bye"]

    run(body)


def test_a_write_after_write_eof_fails_in_the_writer() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        raw = Recording()
        t = CoalescingTransport(raw, loop)
        t.write_eof()
        try:
            t.write(b"too late")
        except RuntimeError as exc:  # not later, in a loop callback
            assert "write_eof" in str(exc)
        else:
            raise AssertionError("the write after write_eof was accepted")

    run(body)


def test_abort_drops_what_is_held() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        raw = Recording()
        t = CoalescingTransport(raw, loop)
        t.write(b"never")
        t.abort()
        await turn()
        assert raw.writes == [] and raw.aborted

    run(body)


def test_it_can_be_weakly_referenced_as_the_transports_it_wraps() -> None:
    import weakref

    async def body(loop: asyncio.AbstractEventLoop) -> None:
        t = CoalescingTransport(Recording(), loop)
        assert weakref.ref(t)() is t

    run(body)


def test_everything_else_is_the_wrapped_transports() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        raw = Recording()
        t = CoalescingTransport(raw, loop)
        assert t.get_extra_info("peername") == ("127.0.0.1", 50000)
        assert t.get_extra_info("socket", "none") == "none"
        t.pause_reading()
        assert not raw.reading and not t.is_reading()
        t.resume_reading()
        assert raw.reading and t.is_reading()
        assert t.can_write_eof()
        t.writelines([b"a", b"b"])
        t.flush()
        assert raw.writes == [b"ab"]

    run(body)


# -- behind uvicorn's own protocol ----------------------------------------------------------


async def chunked(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-app", b"1")]})
    await send({"type": "http.response.body", "body": b"hello", "more_body": True})
    await send({"type": "http.response.body", "body": b" world"})


async def streamed(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await asyncio.sleep(0.01)  # waits between the head and the body
    await send({"type": "http.response.body", "body": b"late"})


REQUEST = b"GET /a HTTP/1.1\r\nhost: payments\r\n\r\n"


def serve(
    protocol_class: type[H11Protocol], app: Any, requests: bytes, raw: Recording | None = None
) -> list[bytes]:
    """The writes that reach the socket (``raw``, by default a new one) when
    ``protocol_class`` (uvicorn's, or the mesh listener's on a plaintext connection) serves
    ``requests`` with ``app``."""
    writes: list[bytes] = []
    socket = raw if raw is not None else Recording()

    async def body(loop: asyncio.AbstractEventLoop) -> None:
        raw = socket
        config = uvicorn.Config(app, lifespan="off", access_log=False, server_header=False)
        config.load()
        config.date_header = False
        protocol = protocol_class(  # type: ignore[call-arg]
            config=config, server_state=ServerState(), app_state={}, _loop=loop
        )
        protocol.connection_made(raw)
        protocol.data_received(requests)
        for _ in range(20):
            await asyncio.sleep(0.005)
        protocol.shutdown()
        writes.extend(raw.writes)

    run(body)
    return writes


def test_the_listener_writes_each_answer_once_with_uvicorns_bytes() -> None:
    mesh = serve(MeshProtocol, chunked, REQUEST)
    own = serve(H11Protocol, chunked, REQUEST)
    assert len(own) == 4  # uvicorn: the head, two chunks, the end of the message
    assert mesh == [b"".join(own)]
    assert mesh[0].startswith(b"HTTP/1.1 200 OK\r\n") and mesh[0].endswith(b"0\r\n\r\n")


def test_pipelined_requests_get_one_write_per_answer() -> None:
    mesh = serve(MeshProtocol, chunked, REQUEST * 3)
    own = serve(H11Protocol, chunked, REQUEST * 3)
    assert b"".join(mesh) == b"".join(own)
    assert len(mesh) == 3 and len(own) == 12


def test_a_head_followed_by_a_wait_goes_out_before_the_body() -> None:
    mesh = serve(MeshProtocol, streamed, REQUEST)
    own = serve(H11Protocol, streamed, REQUEST)
    assert b"".join(mesh) == b"".join(own)
    # the head at the loop's next turn, not held until the body
    assert len(mesh) == 2 and mesh[0].startswith(b"HTTP/1.1 200 OK") and b"late" in mesh[1]


def test_a_complete_answer_is_written_before_the_app_returns() -> None:
    # the listener flushes in on_response_complete: code the app runs after its last send
    # without yielding (cleanup, a background step) does not hold the answer back
    raw = Recording()
    seen: list[list[bytes]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await chunked(scope, receive, send)
        seen.append(list(raw.writes))  # no await since the last send

    writes = serve(MeshProtocol, app, REQUEST, raw)
    assert seen == [writes] and len(writes) == 1 and writes[0].endswith(b"0\r\n\r\n")


class Pausing(Recording):
    """A socket whose buffer fills past 64 KiB: the transport calls the protocol's
    ``pause_writing`` (asyncio's high-water mark), as a slow reader causes."""

    protocol: Any = None

    def write(self, data: Any) -> None:
        super().write(data)
        if sum(map(len, self.writes)) > 65536 and not getattr(self, "paused", False):
            self.paused = True
            self.protocol.pause_writing()


def test_a_body_streamed_without_yielding_meets_flow_control() -> None:
    sent: list[int] = []
    chunk = b"z" * 32768

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(8):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            sent.append(i)
        await send({"type": "http.response.body", "body": b""})

    async def body(loop: asyncio.AbstractEventLoop) -> None:
        raw = Pausing()
        config = uvicorn.Config(app, lifespan="off", access_log=False)
        config.load()
        protocol = MeshProtocol(config=config, server_state=ServerState(), app_state={}, _loop=loop)
        raw.protocol = protocol
        protocol.connection_made(raw)
        protocol.data_received(REQUEST)
        for _ in range(10):
            await asyncio.sleep(0.005)
        # past the high-water mark the app waits in uvicorn's drain, with nothing held
        assert len(sent) < 8
        assert protocol.transport.get_write_buffer_size() == 7  # the socket's own: none held
        written = sum(map(len, raw.writes))
        assert 65536 < written <= 65536 + 2 * (len(chunk) + 16) + 256
        protocol.resume_writing()
        for _ in range(10):
            await asyncio.sleep(0.005)
        assert len(sent) == 8
        assert b"".join(raw.writes).endswith(b"0\r\n\r\n")
        protocol.shutdown()

    run(body)
