"""Drain before the server hears the signal.

uvicorn stops in this order (``Server.shutdown``, uvicorn 0.54): close the listeners, ask
open connections to close, wait for requests in flight, and only then run the
application's lifespan shutdown. A workload that deregisters in its lifespan shutdown
therefore leaves its clients sending to a closed port until the registry's push reaches
them. Kubernetes avoids this with a preStop hook and Envoy's drain: the endpoint is removed
while the pod still accepts. ``SignalDrain`` is the in-process equivalent: SIGTERM and
SIGINT first run an async drain (deregister, keep serving for the drain period), then go to
the handler that was installed before (uvicorn's ``Server.handle_exit``), which stops the
server. A second signal during the drain cuts it short and goes to that handler at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

__all__ = ["HANDLED_SIGNALS", "SignalDrain"]

log = logging.getLogger("inmesh.workload")

#: The signals uvicorn handles (``uvicorn.server.HANDLED_SIGNALS`` on POSIX).
HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)

Handler = Callable[[int, "FrameType | None"], Any]


def _chainable(handler: object) -> bool:
    """Whether ``handler`` is a server's own Python handler that can be called afterwards.

    Not chained: SIG_DFL/SIG_IGN/None, Python's default SIGINT handler (it raises
    KeyboardInterrupt), and asyncio's placeholder for ``loop.add_signal_handler`` (asyncio
    dispatches those through its wakeup fd, so a handler placed in front would not delay it).
    """
    if not callable(handler) or handler is signal.default_int_handler:
        return False
    return getattr(handler, "__module__", None) != "asyncio.unix_events"


class SignalDrain:
    """Run ``drain()`` on the first SIGTERM/SIGINT, then hand the signal on; ``hurry()``
    is called on a second signal to cut the drain short."""

    def __init__(self, drain: Callable[[], Awaitable[None]], *, hurry: Callable[[], None]) -> None:
        self._drain = drain
        self._hurry = hurry
        self._previous: dict[int, Handler] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._first: tuple[int, FrameType | None] | None = None
        self._forwarded = False
        self._installed = False

    @property
    def installed(self) -> bool:
        return self._installed

    @property
    def triggered(self) -> bool:
        """A signal arrived and the drain started."""
        return self._task is not None

    def install(self) -> bool:
        """Put the drain in front of the current handlers; call from the event loop.

        Returns False (and changes nothing) outside the main thread, where Python cannot
        set signal handlers, or when no current handler can be chained (no server of ours).
        """
        if threading.current_thread() is not threading.main_thread():
            return False
        self._loop = asyncio.get_running_loop()
        for sig in HANDLED_SIGNALS:
            previous = signal.getsignal(sig)
            if _chainable(previous):
                self._previous[sig] = previous  # type: ignore[assignment]
                signal.signal(sig, self._handle)
        self._installed = bool(self._previous)
        return self._installed

    def uninstall(self) -> None:
        """Put back the handlers this replaced (where they are still ours)."""
        if self._installed and threading.current_thread() is threading.main_thread():
            for sig, previous in self._previous.items():
                if signal.getsignal(sig) == self._handle:
                    signal.signal(sig, previous)
        self._installed = False

    async def wait(self) -> None:
        """Wait for a drain started by a signal, if any, to finish."""
        if self._task is not None:
            await asyncio.shield(self._task)

    def _handle(self, sig: int, frame: FrameType | None) -> None:
        # Runs in the main thread between two bytecodes: only hand over to the loop.
        try:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._on_signal, sig, frame)
        except RuntimeError:  # the loop is closed: nothing left to drain
            self._forward(sig, frame)

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        if self._task is None:
            assert self._loop is not None
            self._first = (sig, frame)
            self._task = self._loop.create_task(self._drain_then_forward(), name="inmesh-drain")
        else:  # a second signal: the server stops now, as uvicorn does on its own
            self._hurry()
            self._forward(sig, frame)

    async def _drain_then_forward(self) -> None:
        try:
            await self._drain()
        except Exception:  # the drain is best effort; the server must still stop
            log.exception("draining before shutdown failed")
        finally:
            if not self._forwarded and self._first is not None:
                self._forward(*self._first)

    def _forward(self, sig: int, frame: FrameType | None) -> None:
        self._forwarded = True
        previous = self._previous.get(sig)
        if previous is not None:
            previous(sig, frame)
