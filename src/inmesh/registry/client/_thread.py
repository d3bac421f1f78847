"""Running the registry client for a sync application: its own event loop in a daemon
thread, because ``inmesh.Mesh`` serves plain threads as well as asyncio code.

    watch = client.start_in_thread(on_view=mesh_apply)   # may return what it rejected
    view = watch.wait_first()          # bounded by first_timeout; raises what watch() raised
    reg = watch.register(address="127.0.0.1", ports={"http": 8080}, labels={"app": "x"})
    ...
    reg.close(); watch.stop()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from ._view import RegistryView, Rejection

if TYPE_CHECKING:
    from ._certs import SignedCertificate
    from ._client import RegistryClient
    from ._registration import Registration

__all__ = ["BackgroundRegistration", "BackgroundWatch", "OnView"]

log = logging.getLogger("inmesh.registry")
T = TypeVar("T")

#: Called with each view; returns the resources it could not apply (or None for none).
OnView: TypeAlias = Callable[[RegistryView], Iterable[Rejection] | None]


class BackgroundWatch:
    """``client.watch()`` in a background thread; ``on_view`` runs there per view, and
    what it returns (the resources it rejected) is reported with the applied revision. A
    view whose ``on_view`` raised is not reported as applied."""

    def __init__(
        self,
        client: RegistryClient,
        on_view: OnView | None,
        *,
        first_timeout: float = 10.0,
    ) -> None:
        self.client = client
        self.on_view = on_view
        self.first_timeout = first_timeout
        self._loop = asyncio.new_event_loop()
        self._first: concurrent.futures.Future[RegistryView] = concurrent.futures.Future()
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(
            target=self._main, name="inmesh-registry-watch", daemon=True
        )
        self._thread.start()

    @property
    def view(self) -> RegistryView | None:
        """The last-known-good view (None before the first)."""
        return self.client.view

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._task = self._loop.create_task(self._watch())
        try:
            self._loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        finally:
            self._loop.run_until_complete(self.client.aclose())
            self._loop.close()

    async def _watch(self) -> None:
        try:
            async for view in self.client.watch(first_timeout=self.first_timeout):
                try:
                    rejected = self.on_view(view) if self.on_view is not None else None
                except Exception:
                    log.exception("on_view failed for revision %d", view.revision)
                else:
                    self.client.applied(view, rejected or ())
                if not self._first.done():
                    self._first.set_result(view)
        except Exception as exc:
            if not self._first.done():
                self._first.set_exception(exc)
            else:
                raise

    def wait_first(self, timeout: float | None = None) -> RegistryView:
        """Block until the first view (or the error that ended the watch)."""
        return self._first.result(timeout if timeout is not None else self.first_timeout + 5)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the watch's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def register(self, **kwargs: Any) -> BackgroundRegistration:
        """:meth:`RegistryClient.register` from a sync caller: registered on return."""
        registration = self.client.register(**kwargs)
        self.run(registration.start())
        return BackgroundRegistration(self, registration)

    def sign(
        self,
        csr_pem: str,
        *,
        namespace: str,
        service_account: str,
        ttl: float | None = None,
        timeout: float | None = None,
    ) -> SignedCertificate:
        """:meth:`RegistryClient.sign` from a sync caller (on the watch's loop)."""
        coro = self.client.sign(
            csr_pem, namespace=namespace, service_account=service_account, ttl=ttl
        )
        return self.run(coro, timeout if timeout is not None else self.client.timeout + 5)

    def roots(self, timeout: float | None = None) -> tuple[str, ...]:
        """:meth:`RegistryClient.roots` from a sync caller (on the watch's loop)."""
        return self.run(
            self.client.roots(), timeout if timeout is not None else self.client.timeout + 5
        )

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching and close the client's connections."""
        if self._loop.is_closed():
            return

        def cancel() -> None:
            if self._task is not None:
                self._task.cancel()

        try:
            self._loop.call_soon_threadsafe(cancel)
        except RuntimeError:
            return  # the loop already finished
        self._thread.join(timeout)


class BackgroundRegistration:
    """A :class:`Registration` heartbeating on a :class:`BackgroundWatch`'s loop."""

    def __init__(self, watch: BackgroundWatch, registration: Registration) -> None:
        self.watch = watch
        self.registration = registration

    @property
    def name(self) -> str | None:
        return self.registration.name

    def close(self, timeout: float = 10.0) -> None:
        """Deregister now (do this before :meth:`BackgroundWatch.stop`)."""
        self.watch.run(self.registration.close(), timeout)
