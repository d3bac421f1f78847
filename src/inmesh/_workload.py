"""This process as a mesh workload: registered with the registry, kept alive by
heartbeats, and drained on the way out (Istio's WorkloadGroup auto-registration, with the
graceful shutdown a sidecar's drain gives)."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType

import anyio


class Workload:
    """Register ``service`` (labels ``app``/``version``) at ``address:port``; on exit,
    deregister first, then wait ``drain`` seconds for every client to have the change
    while requests keep being served, so that no client loses a request.

    Use it in an application's own lifespan (``async with Workload(...):``) or through
    ``inmesh serve``.
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
        ttl: float = 10.0,
        drain: float = 2.0,
    ) -> None:
        all_labels = {"app": service, **({"version": version} if version else {})}
        all_labels.update(labels or {})
        self.drain_seconds = drain
        from .registry import RegistryClient  # the registry stack loads only when used

        self._client = RegistryClient(registry, token)
        self._registration = self._client.register(
            address=address,
            ports={port_name: port},
            namespace=namespace,
            labels=all_labels,
            service_account=service_account,
            locality=locality,
            ttl=ttl,
        )

    async def __aenter__(self) -> Workload:
        await self._registration.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.drain()

    async def drain(self) -> None:
        """Deregister now, then wait the drain period (clients get the push meanwhile)."""
        try:
            await self._registration.close()
            await anyio.sleep(self.drain_seconds)
        finally:
            await self._client.aclose()


__all__ = ["Workload"]
