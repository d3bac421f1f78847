"""ASGI lifespan for in-memory workloads, as uvicorn's ``lifespan="auto"`` runs it.

Startup runs in the event loop that serves the replica's first connection (the test's loop,
or the sync backend's loop thread), before that connection is served; the lifespan
``state`` is copied into every request's scope (Starlette's ``request.state``). An app that
does not speak the lifespan protocol (it raises before ``lifespan.startup.complete``) is
served anyway, as uvicorn does; ``lifespan.startup.failed`` fails the connection with the
app's message. Shutdown runs when the Sandbox closes while that loop can still run it
(``async with Sandbox(...)``, or the sync backend's thread); otherwise the task is
cancelled with the loop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from .._current import set_context_mesh

log = logging.getLogger("inmesh.testing")


class LifespanFailed(RuntimeError):
    """The app answered ``lifespan.startup.failed``."""


class Lifespan:
    """One replica's lifespan in one event loop."""

    def __init__(self, app: Any, mesh: Any, name: str, loop: asyncio.AbstractEventLoop) -> None:
        self.name = name
        #: the lifespan scope's ``state``, copied into each request's scope
        self.state: dict[str, Any] = {}
        self.loop = loop
        self._app = app
        self._mesh = mesh
        self._started = asyncio.Event()
        self._stop = asyncio.Event()
        self._stopped = asyncio.Event()
        self._asked = False
        self.failure: str | None = None
        self.task = loop.create_task(self._run())

    async def _run(self) -> None:
        set_context_mesh(self._mesh)
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
        scope["state"] = self.state
        try:
            await self._app(scope, self._receive, self._send)
        except Exception as exc:
            if not self._started.is_set():  # uvicorn "auto": lifespan unsupported
                log.debug("%s: ASGI lifespan unsupported (%r)", self.name, exc)
            else:
                log.error("%s: lifespan raised", self.name, exc_info=exc)
        finally:
            self._started.set()
            self._stopped.set()

    async def _receive(self) -> dict[str, Any]:
        if not self._asked:
            self._asked = True
            return {"type": "lifespan.startup"}
        await self._stop.wait()
        return {"type": "lifespan.shutdown"}

    async def _send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "lifespan.startup.failed":
            self.failure = message.get("message", "") or "no message"
            self._started.set()
        elif kind == "lifespan.startup.complete":
            self._started.set()
        elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            self._stopped.set()

    async def started(self) -> None:
        """Wait for startup; raise :class:`LifespanFailed` when the app said it failed."""
        await self._started.wait()
        if self.failure is not None:
            raise LifespanFailed(f"workload {self.name}: lifespan startup failed: {self.failure}")

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Ask for shutdown and wait for it (at most ``timeout`` seconds)."""
        self._stop.set()
        try:
            await asyncio.wait_for(self._stopped.wait(), timeout)
        except asyncio.TimeoutError:
            self.task.cancel()
