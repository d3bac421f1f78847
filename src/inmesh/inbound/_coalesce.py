"""The listener's transport: what one turn of the event loop writes goes out as one write.

uvicorn's h11 protocol writes an answer in three calls (the head, the body, the end of the
message: ``RequestResponseCycle.send``), and on a TLS connection each ``transport.write``
is its own TLS record and its own ``send`` system call. :class:`CoalescingTransport` holds
the writes made during one turn of the event loop and writes them as one:

- at the end of an answer (the listener flushes in ``on_response_complete``), so a whole
  answer leaves as soon as it is complete;
- when the held bytes reach :data:`FLUSH_AT` (a write that large goes out as it is, after
  what is held), so a body streamed without yielding is not held whole and still meets the
  transport's flow control (``pause_writing``);
- before the transport closes or writes EOF;
- otherwise at the next turn of the loop (``call_soon``), so a head or a chunk followed by
  a wait (a streamed answer, ``Expect: 100-continue``) is never held back longer.

Envoy writes the same way: what its codec encodes for a connection during one event-loop
iteration is buffered and flushed to the socket once (``ConnectionImpl::write`` schedules
``onWriteReady``). One answer in one TLS record and one system call instead of three:
docs/performance.md has the figures.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["FLUSH_AT", "CoalescingTransport"]

#: held bytes at which the writes go out at once (a TLS record's most plaintext, 16 KiB)
FLUSH_AT = 16384


class CoalescingTransport(asyncio.Transport):
    """``transport`` with the writes of one event-loop turn sent as one (see the module);
    everything else is the wrapped transport's."""

    __slots__ = ("__weakref__", "_eof", "_held", "_loop", "_size", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        #: the wrapped transport
        self.transport = transport
        self._loop = loop
        self._held: list[bytes] | None = None
        self._size = 0
        self._eof = False  # after write_eof, writes go straight through (and fail there)

    # -- writing --------------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return  # asyncio's own transports write nothing for nothing too
        held = self._held
        if held is None:
            if len(data) >= FLUSH_AT or self._eof:  # nothing to join it with: as it is
                self.transport.write(data)
                return
            self._held = [bytes(data)]  # bytes: the same object; a buffer: a copy
            self._size = len(data)
            self._loop.call_soon(self.flush)
            return
        if len(data) >= FLUSH_AT:  # large: what is held first, then it as it is (no copy)
            self.flush()
            self.transport.write(data)
            return
        held.append(bytes(data))
        self._size += len(data)
        if self._size >= FLUSH_AT:
            self.flush()

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Write what is held, in one write (dropped once the transport is closing, as the
        transport itself would drop it)."""
        held = self._held
        if held is None:
            return
        self._held = None
        self._size = 0
        if not self.transport.is_closing():
            self.transport.write(held[0] if len(held) == 1 else b"".join(held))

    def get_write_buffer_size(self) -> int:
        return self.transport.get_write_buffer_size() + self._size

    def write_eof(self) -> None:
        self.flush()
        self._eof = True
        self.transport.write_eof()

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def abort(self) -> None:
        self._held = None  # abort loses what is buffered, as the transport's own buffer
        self._size = 0
        self.transport.abort()

    # -- the wrapped transport's own ------------------------------------------------------

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.transport.get_protocol()

    def is_reading(self) -> bool:
        return self.transport.is_reading()

    def pause_reading(self) -> None:
        self.transport.pause_reading()

    def resume_reading(self) -> None:
        self.transport.resume_reading()

    def can_write_eof(self) -> bool:
        return self.transport.can_write_eof()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.transport.set_write_buffer_limits(high, low)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self.transport.get_write_buffer_limits()
