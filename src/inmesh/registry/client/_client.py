"""The registry's client: watch the configuration, register workloads, report status.

``RegistryClient.watch()`` yields a :class:`RegistryView` (the whole configuration at one
revision, live workloads included as WorkloadEntry resources) at start and after every
change. It long-polls ``/v1/watch`` for what changed since its revision (a delta, applied
to the view it has; a full snapshot at first or after a gap) and never gives up: while
the registry is down it keeps the last-known-good view and retries with jittered
exponential backoff,

    delay(attempt) = min(backoff_max, backoff_initial * 2 ** attempt) * uniform(0.5, 1)

and with ``cache_file`` it persists each view, so a process restarted during an outage
starts from the cached view instead of nothing. A client given ``proxy=`` reports which
revision it applied and what it rejected (``_proxy.py``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import Any

import httpx

from .._data import check_url
from .._errors import RegistryRejected, RegistryUnavailable
from ._cache import CachedSnapshot, read_cache, write_cache
from ._certs import SignedCertificate, fetch_roots, request_certificate
from ._proxy import PROXY_HEADER, ProxyInfo, ProxyReport, new_proxy_id
from ._registration import Registration
from ._thread import BackgroundWatch, OnView
from ._view import RegistryView, Rejection, ViewBuilder

__all__ = ["RegistryClient", "backoff_delay", "check_url"]

log = logging.getLogger("inmesh.registry")


def backoff_delay(attempt: int, initial: float, maximum: float) -> float:
    """``min(maximum, initial * 2 ** attempt) * uniform(0.5, 1)``: exponential, jittered
    so that a thousand clients do not reconnect in the same instant."""
    return float(min(maximum, initial * 2.0 ** min(attempt, 30)) * random.uniform(0.5, 1.0))


class RegistryClient:
    """A connection to one registry (``url``, http or https) with one ``token`` (join or
    admin).

    ``timeout`` bounds each request (connect, and read beyond the long poll); ``hold``
    is how long the registry may hold a poll; ``backoff_*`` shape reconnects (formula in
    the module docstring). ``http`` supplies the httpx client to use (its TLS settings,
    transport, limits); it is then the caller's to close. ``proxy`` names this client
    for the registry's proxy status; it gets a short random :attr:`proxy_id`.
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
        proxy: ProxyInfo | None = None,
    ) -> None:
        self.url = check_url(url)
        self.token = token
        self.cache_file = cache_file
        self.timeout = timeout
        self.hold = hold
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.proxy_id = new_proxy_id()
        self._report = ProxyReport(proxy, self.proxy_id) if proxy is not None else None
        self._http = http
        self._own_http = http is None
        self._view: RegistryView | None = None
        self._store_id = ""
        self._views = ViewBuilder(self.url, keep_documents=cache_file is not None)

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
                + "; ".join(RegistryRejected.from_response(response).messages)
            )
        if response.status_code >= 400:
            raise RegistryRejected.from_response(response)
        return response

    async def aclose(self) -> None:
        """Close the connections (and, when this client reported status, tell the
        registry that it stopped, so it leaves ``inmesh status --proxies`` at once)."""
        if self._report is not None and self._report.sent:
            self._report.sent = False
            try:  # briefly: a registry that is down must not hold up a shutdown
                await self.http.delete(
                    f"{self.url}/v1/proxies/{self.proxy_id}",
                    headers=self.headers,
                    timeout=min(self.timeout, 2.0),
                )
            except httpx.HTTPError as exc:  # it drops out when not seen for a while
                log.debug("registry %s: proxy %s not removed: %s", self.url, self.proxy_id, exc)
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

    def _accept(self, data: Mapping[str, Any]) -> RegistryView | None:
        """Swap in a watch answer (a full snapshot, or a delta from our revision); None
        when it changes nothing this client has."""
        previous = self._view
        store_id, revision = str(data["store"]), int(data["revision"])
        if "resources" in data:
            before = self._views.keys
            view = self._views.build(revision, tuple(data["resources"]))
            changed = previous is None or self._views.keys != before
        else:
            have = previous.revision if previous is not None else None
            if store_id != self._store_id or int(data["since"]) != have:
                # not a delta from what we have: ask again, from nothing (a full snapshot)
                log.warning(
                    "registry %s sent a delta from revision %s of %s; this client has %s of "
                    "%s: asking for a full snapshot",
                    self.url,
                    data.get("since"),
                    store_id,
                    have,
                    self._store_id or "none",
                )
                self._store_id = ""
                return None
            updated = tuple(data.get("updated") or ())
            deleted = [(d["kind"], d["namespace"], d["name"]) for d in data.get("deleted") or ()]
            view = self._views.apply(revision, updated, deleted)
            changed = bool(updated or deleted)
        self._store_id = store_id
        self._view = view
        if self.cache_file and self._views.keep_documents:
            try:
                write_cache(
                    self.cache_file,
                    CachedSnapshot(
                        registry=self.url,
                        store_id=store_id,
                        revision=revision,
                        documents=self._views.documents,
                    ),
                )
            except OSError as exc:
                log.warning("cannot write registry cache %s: %s", self.cache_file, exc)
        if previous is not None and not changed:
            if self._report is not None:
                self._report.carry(previous.revision, revision)
            return None
        return view

    def load_cached(self) -> RegistryView | None:
        """The view in ``cache_file`` (also made the last-known-good view), or None."""
        if not self.cache_file:
            return None
        cached = read_cache(self.cache_file)
        if cached is None:
            return None
        view = self._views.build(cached.revision, cached.documents)
        self._store_id = cached.store_id if cached.registry == self.url else ""
        self._view = view
        return view

    async def poll(self, hold: float) -> RegistryView | None:
        """One long poll: a newer view, or None if nothing changed within ``hold``."""
        revision = self._view.revision if self._view is not None else 0
        params: dict[str, Any] = {
            "revision": revision,
            "store": self._store_id,
            "timeout": hold,
            "delta": 1,
        }
        if self._report is not None:
            params.update(self._report.params())
        response = await self.request(
            "GET", "/v1/watch", read_timeout=hold + self.timeout, params=params
        )
        if self._report is not None and response.headers.get(PROXY_HEADER) == "unknown":
            self._report.unknown()
        if response.status_code == 304:
            return None
        return self._accept(response.json())

    # -- proxy status ---------------------------------------------------------------------

    def applied(self, view: RegistryView, rejections: Iterable[Rejection] = ()) -> None:
        """Record that ``view`` is in force except for ``rejections`` (and the documents
        the client could not parse, ``view.rejected``); sent to the registry before the
        next watch request when this client has a ``proxy``."""
        if self._report is not None:
            self._report.apply(view.revision, (*view.rejected, *rejections))

    async def report(self) -> None:
        """Send the full proxy status now if the registry needs it (``watch()`` does this
        itself; the applied revision alone travels with every watch request)."""
        report = self._report
        if report is None or not report.pending:
            return
        report.pending = False
        report.sent = True  # from now on, aclose() tells the registry this proxy left
        try:
            await self.request("POST", "/v1/proxies", json=report.body())
        except RegistryUnavailable:
            report.pending = True  # the watch request that follows reports the outage
        except RegistryRejected as exc:  # it would refuse every later one: stop reporting
            # INFO: status reports are observability only, and the same token's refusal
            # of what matters (registration, the watch) is reported where it happens
            log.info(
                "registry %s refused this client's status report (no more are sent): %s",
                self.url,
                exc,
            )
            self._report = None

    async def _current(self) -> RegistryView | None:
        """Poll without holding: the newer view, else the one we have (None: neither)."""
        view = await self.poll(0)
        return view if view is not None else self._view

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
        are logged and retried while the last view stays in force. Before each request
        for the next view, the status recorded with :meth:`applied` is reported.
        """
        yield await self._first(first_timeout)
        attempt = 0
        while True:
            try:
                await self.report()
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
        return Registration(self.request, body)

    # -- certificates ---------------------------------------------------------------------

    async def sign(
        self,
        csr_pem: str,
        *,
        namespace: str,
        service_account: str,
        ttl: float | None = None,
    ) -> SignedCertificate:
        """Have the registry's CA sign ``csr_pem`` for this workload's SPIFFE identity
        (``ttl`` seconds; None: the registry's default). A token for another namespace
        or service account raises RegistryRejected (403); a bad CSR or a TTL above the
        registry's cap, RegistryRejected (400) with every reason."""
        return await request_certificate(
            self.request, csr_pem, namespace=namespace, service_account=service_account, ttl=ttl
        )

    async def roots(self) -> tuple[str, ...]:
        """The mesh's trust bundle (PEM roots; several during a root rotation)."""
        return await fetch_roots(self.request)

    def start_in_thread(
        self, on_view: OnView | None = None, *, first_timeout: float = 10.0
    ) -> BackgroundWatch:
        """Run :meth:`watch` on its own event loop in a daemon thread (for sync apps);
        ``on_view`` is called there with each view and may return the resources it
        rejected (an iterable of :class:`Rejection`, or None). See :class:`BackgroundWatch`."""
        return BackgroundWatch(self, on_view, first_timeout=first_timeout)
