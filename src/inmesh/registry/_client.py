"""The registry's client: watch the configuration, register workloads.

``RegistryClient.watch()`` yields a :class:`RegistryView` (the whole configuration at one
revision, live workloads included as WorkloadEntry resources) at start and after every
change. It long-polls ``/v1/watch`` and never gives up: while the registry is down it
keeps the last-known-good view and retries with jittered exponential backoff,

    delay(attempt) = min(backoff_max, backoff_initial * 2 ** attempt) * uniform(0.5, 1)

and with ``cache_file`` it persists each view, so a process restarted during an outage
starts from the cached view instead of nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from .._errors import ConfigError
from ..config import Resource, parse_documents
from ._cache import CachedSnapshot, read_cache, write_cache
from ._errors import RegistryRejected, RegistryUnavailable

if TYPE_CHECKING:
    from ._registration import Registration
    from ._thread import BackgroundWatch

__all__ = ["RegistryClient", "RegistryView", "backoff_delay", "rejection"]

log = logging.getLogger("inmesh.registry")


@dataclass(frozen=True, slots=True)
class RegistryView:
    """The configuration at one revision: stored resources plus live workloads (as
    WorkloadEntry resources annotated ``inmesh.io/registered``)."""

    revision: int
    resources: tuple[Resource, ...]


def backoff_delay(attempt: int, initial: float, maximum: float) -> float:
    """``min(maximum, initial * 2 ** attempt) * uniform(0.5, 1)``: exponential, jittered
    so that a thousand clients do not reconnect in the same instant."""
    return float(min(maximum, initial * 2.0 ** min(attempt, 30)) * random.uniform(0.5, 1.0))


def rejection(response: httpx.Response) -> RegistryRejected:
    """A 4xx answer as an exception carrying every message the registry gave."""
    try:
        messages = [str(m) for m in response.json().get("messages", ())]
    except (ValueError, AttributeError):
        messages = [response.text.strip()[:500]] if response.text.strip() else []
    return RegistryRejected(response.status_code, messages or [f"HTTP {response.status_code}"])


class RegistryClient:
    """A connection to one registry (``url``) with one ``token`` (join or admin).

    ``timeout`` bounds each request (connect, and read beyond the long poll); ``hold``
    is how long the registry may hold a poll; ``backoff_*`` shape reconnects (formula in
    the module docstring). ``http`` supplies the httpx client to use (its TLS settings,
    transport, limits); it is then the caller's to close.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        cache_file: str | os.PathLike[str] | None = None,
        timeout: float = 10.0,
        hold: float = 30.0,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.cache_file = cache_file
        self.timeout = timeout
        self.hold = hold
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._http = http
        self._own_http = http is None
        self._view: RegistryView | None = None
        self._store_id = ""
        self._parsed: dict[tuple[str, str, str, str], Resource] = {}

    # -- plumbing -------------------------------------------------------------------------

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(trust_env=False, timeout=self.timeout)
        return self._http

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        read_timeout: float | None = None,
    ) -> httpx.Response:
        """One API call; 4xx raise RegistryRejected, no answer or 5xx RegistryUnavailable."""
        timeout = httpx.Timeout(self.timeout, read=read_timeout or self.timeout)
        try:
            response = await self.http.request(
                method,
                self.url + path,
                json=json,
                params=params,
                headers=self.headers,
                timeout=timeout,
            )
        except httpx.TransportError as exc:
            raise RegistryUnavailable(
                f"registry {self.url}: {type(exc).__name__}: {exc or 'no answer'}"
            ) from exc
        if response.status_code >= 500:
            raise RegistryUnavailable(
                f"registry {self.url}: HTTP {response.status_code}: "
                + "; ".join(rejection(response).messages)
            )
        if response.status_code >= 400:
            raise rejection(response)
        return response

    async def aclose(self) -> None:
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- views ----------------------------------------------------------------------------

    @property
    def view(self) -> RegistryView | None:
        """The last-known-good view (None before the first)."""
        return self._view

    def _build(self, revision: int, documents: tuple[Mapping[str, Any], ...]) -> RegistryView:
        """Parse a snapshot, reusing resources whose resourceVersion did not change."""
        parsed: dict[tuple[str, str, str, str], Resource] = {}
        fresh: list[tuple[tuple[str, str, str, str], Mapping[str, Any]]] = []
        for doc in documents:
            meta = doc.get("metadata") or {}
            key = (
                str(doc.get("kind")),
                str(meta.get("namespace")),
                str(meta.get("name")),
                str(meta.get("resourceVersion")),
            )
            hit = self._parsed.get(key)
            if hit is None:
                fresh.append((key, doc))
            else:
                parsed[key] = hit
        if fresh:
            models = parse_documents([dict(d) for _, d in fresh], source=f"{self.url} snapshot")
            parsed.update(zip((k for k, _ in fresh), models, strict=True))
        self._parsed = parsed
        return RegistryView(revision, tuple(parsed.values()))

    def _accept(
        self, store_id: str, revision: int, documents: tuple[Mapping[str, Any], ...]
    ) -> RegistryView | None:
        """Swap in a snapshot; None when its resources are the ones we already have."""
        before = set(self._parsed)
        view = self._build(revision, documents)
        self._store_id = store_id
        unchanged = self._view is not None and set(self._parsed) == before
        self._view = view
        if self.cache_file:
            try:
                write_cache(
                    self.cache_file, CachedSnapshot(self.url, store_id, revision, documents)
                )
            except OSError as exc:
                log.warning("cannot write registry cache %s: %s", self.cache_file, exc)
        return None if unchanged else view

    def load_cached(self) -> RegistryView | None:
        """The view in ``cache_file`` (also made the last-known-good view), or None."""
        if not self.cache_file:
            return None
        cached = read_cache(self.cache_file)
        if cached is None:
            return None
        try:
            view = self._build(cached.revision, cached.documents)
        except ConfigError as exc:
            log.warning("ignoring registry cache %s: %s", self.cache_file, exc)
            return None
        self._store_id = cached.store_id if cached.registry == self.url else ""
        self._view = view
        return view

    async def poll(self, hold: float) -> RegistryView | None:
        """One long poll: a newer view, or None if nothing changed within ``hold``."""
        revision = self._view.revision if self._view is not None else 0
        response = await self.request(
            "GET",
            "/v1/watch",
            read_timeout=hold + self.timeout,
            params={"revision": revision, "store": self._store_id, "timeout": hold},
        )
        if response.status_code == 304:
            return None
        data = response.json()
        try:
            return self._accept(str(data["store"]), int(data["revision"]), tuple(data["resources"]))
        except ConfigError as exc:
            raise RegistryUnavailable(
                f"registry {self.url} sent configuration this "
                f"client cannot use (keeping the last view): {exc}"
            ) from exc

    async def _current(self) -> RegistryView | None:
        """Poll without holding: the newer view, else the one we have (None: neither)."""
        view = await self.poll(0)
        return view if view is not None else self._view

    async def fetch(self) -> RegistryView:
        """The registry's current view, without waiting for a change."""
        self._store_id = ""  # an unknown store id is always answered with the snapshot
        view = await self._current()
        if view is None:
            raise RegistryUnavailable(f"registry {self.url} answered no snapshot")
        return view

    async def _first(self, timeout: float) -> RegistryView:
        cached = self.load_cached() if self._view is None else self._view

        async def connect() -> RegistryView:
            attempt = 0
            while True:
                try:
                    view = await self._current()
                    if view is not None:
                        return view
                except RegistryUnavailable as exc:
                    log.info("registry not reachable yet: %s", exc)
                    await asyncio.sleep(
                        backoff_delay(attempt, self.backoff_initial, self.backoff_max)
                    )
                    attempt += 1

        try:
            return await asyncio.wait_for(connect(), timeout)
        except asyncio.TimeoutError:
            if cached is not None:
                log.warning(
                    "registry %s unreachable for %.1fs: starting from the cached "
                    "view at revision %d",
                    self.url,
                    timeout,
                    cached.revision,
                )
                return cached
            raise RegistryUnavailable(
                f"no configuration from registry {self.url} within {timeout:g}s, and no cached view"
            ) from None

    async def watch(self, *, first_timeout: float = 10.0) -> AsyncIterator[RegistryView]:
        """The current view, then each new one, forever.

        The first is waited for at most ``first_timeout`` seconds; past that the cached
        view stands in, or RegistryUnavailable is raised when there is none. Bad
        credentials (401/403) at start raise RegistryRejected; later they, like outages,
        are logged and retried while the last view stays in force.
        """
        yield await self._first(first_timeout)
        attempt = 0
        while True:
            try:
                view = await self.poll(self.hold)
                attempt = 0
            except (RegistryUnavailable, RegistryRejected) as exc:
                delay = backoff_delay(attempt, self.backoff_initial, self.backoff_max)
                log.warning(
                    "registry watch: %s; keeping revision %d, retrying in %.1fs",
                    exc,
                    self._view.revision if self._view else 0,
                    delay,
                )
                attempt += 1
                await asyncio.sleep(delay)
                continue
            if view is not None:
                yield view

    # -- workloads ------------------------------------------------------------------------

    def register(
        self,
        *,
        address: str,
        ports: Mapping[str, int],
        namespace: str = "default",
        name: str | None = None,
        labels: Mapping[str, str] | None = None,
        service_account: str | None = None,
        locality: str | None = None,
        network: str | None = None,
        weight: int | None = None,
        ttl: float = 10.0,
    ) -> Registration:
        """A registration for this workload; ``async with`` it (or ``await .start()``)
        to register, heartbeat every ``ttl / 3`` seconds, and deregister at the end."""
        from ._registration import Registration

        body: dict[str, Any] = {
            "namespace": namespace,
            "address": address,
            "ports": dict(ports),
            "labels": dict(labels or {}),
            "ttl": ttl,
        }
        for key, value in (
            ("name", name),
            ("serviceAccount", service_account),
            ("locality", locality),
            ("network", network),
            ("weight", weight),
        ):
            if value is not None:
                body[key] = value
        return Registration(self, body)

    def start_in_thread(
        self, on_view: Callable[[RegistryView], None] | None = None, *, first_timeout: float = 10.0
    ) -> BackgroundWatch:
        """Run :meth:`watch` on its own event loop in a daemon thread (for sync apps);
        ``on_view`` is called there with each view. See :class:`BackgroundWatch`."""
        from ._thread import BackgroundWatch

        return BackgroundWatch(self, on_view, first_timeout=first_timeout)
