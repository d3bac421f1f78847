"""The shells' body streams without sockets: close finishes the call once, lets go of it,
and a closed stream cannot be read."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from inmesh.outbound._async import _AsyncStream
from inmesh.outbound._sync import _SyncStream

pytestmark = pytest.mark.anyio


class _Call:
    """What a body stream asks of its call: the deadline, the byte count, finish."""

    def __init__(self) -> None:
        self.response_bytes = 0
        self.finished: list[int] = []

    def expires(self) -> float:
        return math.inf

    def finish(self, status: int, flags: str = "") -> None:
        self.finished.append(status)


class _Upstream:
    def __init__(self) -> None:
        self.closed = 0

    def __iter__(self) -> Any:
        yield b"ab"
        yield b"cde"

    async def __aiter__(self) -> Any:
        yield b"ab"
        yield b"cde"

    def close(self) -> None:
        self.closed += 1

    async def aclose(self) -> None:
        self.closed += 1


def test_sync_stream_counts_finishes_once_and_lets_go() -> None:
    call, upstream = _Call(), _Upstream()
    stream = _SyncStream(upstream, call, 200)  # type: ignore[arg-type]
    assert b"".join(stream) == b"abcde"
    stream.close()
    stream.close()
    assert (call.response_bytes, call.finished, upstream.closed) == (5, [200], 1)
    assert (stream._call, stream._stream) == (None, None)
    with pytest.raises(httpx.StreamClosed):
        next(iter(stream))


async def test_async_stream_counts_finishes_once_and_lets_go() -> None:
    call, upstream = _Call(), _Upstream()
    stream = _AsyncStream(upstream, call, 200)  # type: ignore[arg-type]
    assert b"".join([part async for part in stream]) == b"abcde"
    await stream.aclose()
    await stream.aclose()
    assert (call.response_bytes, call.finished, upstream.closed) == (5, [200], 1)
    assert (stream._call, stream._stream) == (None, None)
    with pytest.raises(httpx.StreamClosed):
        await stream.__aiter__().__anext__()
