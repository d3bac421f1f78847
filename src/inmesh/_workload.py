"""This process as a mesh workload: registered with the registry, kept alive by
heartbeats, and drained on the way out (Istio's WorkloadGroup auto-registration, with the
graceful shutdown a sidecar's drain gives)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from types import TracebackType

from ._signals import SignalDrain


class Workload:
    """Register ``service`` (labels ``app``/``version``) at ``address:port`` and drain on
    the way out: deregister first, then keep serving ``drain`` seconds while every client
    gets the change, so that no client loses a request.

    Use it in an application's own lifespan (``async with Workload(...):``) under uvicorn,
    or through ``inmesh serve`` (which uses it too). uvicorn closes its listeners *before*
    the lifespan shutdown, so with ``drain_on_signal`` (the default) the Workload puts
    itself in front of the server's SIGTERM/SIGINT handler while it is open: the first
    signal deregisters and waits the drain period while the server still accepts, then
    reaches uvicorn, which stops. A second signal stops at once. Without a chainable
    handler (not the main thread, no server handler), the drain runs at exit instead.
    """

    def __init__(
        self,
        *,
        service: str,
        port: int,
        registry: str,
        token: str | None = None,
        version: str | None = None,
        namespace: str = "default",
        address: str = "127.0.0.1",
        labels: Mapping[str, str] | None = None,
        service_account: str | None = None,
        locality: str | None = None,
        port_name: str = "http",
        extra_ports: Mapping[str, int] | None = None,
        ttl: float = 10.0,
        drain: float = 2.0,
        drain_on_signal: bool = True,
    ) -> None:
        all_labels = {"app": service, **({"version": version} if version else {})}
        all_labels.update(labels or {})
        self.drain_seconds = drain
        self._drain_on_signal = drain_on_signal
        self._drained = False
        self._draining = asyncio.Lock()
        self._hurry = asyncio.Event()
        self._signals = SignalDrain(self.drain, hurry=self._hurry.set)
        from .registry import RegistryClient  # the registry stack loads only when used

        self._client = RegistryClient(registry, token)
        self._registration = self._client.register(
            address=address,
            ports={port_name: port, **(extra_ports or {})},
            namespace=namespace,
            labels=all_labels,
            service_account=service_account,
            locality=locality,
            ttl=ttl,
        )

    @property
    def drains_on_signal(self) -> bool:
        """Whether a SIGTERM/SIGINT drains before the server hears it (see the class)."""
        return self._signals.installed

    async def __aenter__(self) -> Workload:
        try:
            await self._registration.start()
        except BaseException:
            await self._client.aclose()
            raise
        if self._drain_on_signal:
            self._signals.install()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._signals.wait()
            await self.drain()
        finally:
            self._signals.uninstall()
            await self._client.aclose()

    async def drain(self) -> None:
        """Deregister now, then wait the drain period (clients get the push meanwhile).

        Runs once: later calls return at once (or when the running drain ends).
        """
        async with self._draining:
            if self._drained:
                return
            self._drained = True
            await self._registration.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._hurry.wait(), self.drain_seconds)


__all__ = ["Workload"]
