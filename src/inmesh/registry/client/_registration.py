"""One workload's registration: register, heartbeat in the background, deregister.

The lease is renewed every ``ttl / 3`` seconds, so two heartbeats can be lost before it
expires. A heartbeat answered 404 means the lease ran out (the registry was unreachable
for longer than the TTL, or lost its state): the workload registers again under the same
name. Deregistration on exit is what removes the workload from every client at once; a
process that dies without it disappears when its lease expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Protocol

import httpx

from .._errors import RegistryRejected, RegistryUnavailable

__all__ = ["Registration", "Requester"]

log = logging.getLogger("inmesh.registry")


class Requester(Protocol):
    """One registry API call (:meth:`RegistryClient.request`): 4xx raise RegistryRejected,
    no answer RegistryUnavailable."""

    async def __call__(self, method: str, path: str, *, json: Any = None) -> httpx.Response: ...


class Registration:
    """A workload registered while this object is open (``async with``); ``call`` makes
    its API calls, ``request`` is the registration's body."""

    def __init__(self, call: Requester, request: Mapping[str, Any]) -> None:
        self.call = call
        self.request: dict[str, Any] = dict(request)
        self.namespace: str = str(request.get("namespace", "default"))
        self.name: str | None = request.get("name")
        self.ttl: float = float(request.get("ttl", 10.0))
        self.workload: dict[str, Any] = {}
        self.revision = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def path(self) -> str:
        return f"/v1/workloads/{self.namespace}/{self.name}"

    async def _register(self) -> None:
        response = await self.call("POST", "/v1/workloads", json=self.request)
        data = response.json()
        self.name = self.request["name"] = data["name"]
        self.ttl = float(data["ttl"])
        self.revision = int(data["revision"])
        self.workload = data["workload"]

    async def start(self) -> Registration:
        """Register now (errors propagate) and start heartbeating."""
        await self._register()
        self._task = asyncio.create_task(self._heartbeats(), name=f"inmesh-heartbeat-{self.name}")
        return self

    async def heartbeat(self) -> None:
        """Renew the lease once; register again if it had expired."""
        try:
            await self.call("POST", self.path + "/heartbeat")
        except RegistryRejected as exc:
            if exc.status != 404:
                raise
            log.warning(
                "registration %s/%s had expired; registering again", self.namespace, self.name
            )
            await self._register()

    async def _heartbeats(self) -> None:
        interval = self.ttl / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self.heartbeat()
                interval = self.ttl / 3
            except (RegistryUnavailable, RegistryRejected) as exc:
                # Try again sooner: the lease still has about two intervals to run.
                interval = max(0.2, self.ttl / 9)
                log.warning("heartbeat for %s/%s failed: %s", self.namespace, self.name, exc)

    async def close(self) -> None:
        """Stop heartbeating and deregister (best effort: the lease expires otherwise)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.name is None:
            return
        try:
            await self.call("DELETE", self.path)
        except RegistryRejected as exc:
            if exc.status != 404:
                log.warning("deregistering %s/%s: %s", self.namespace, self.name, exc)
        except RegistryUnavailable as exc:
            log.warning(
                "could not deregister %s/%s (%s); its lease expires in %gs",
                self.namespace,
                self.name,
                exc,
                self.ttl,
            )

    async def __aenter__(self) -> Registration:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
