"""Prometheus exposition: an ASGI app to mount, and the workload's admin listener.

Istio's sidecar serves its metrics at ``/stats/prometheus`` on port 15090 of the pod. One
host here runs several workloads, so the admin listener's default port is 0 (an ephemeral
one, reported by :attr:`AdminServer.port` and advertised at registration, where the
registry's Prometheus service discovery finds it); ``15090`` gives Istio's.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._metrics import MetricsHook, default_metrics

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

__all__ = ["ADMIN_PORT_NAME", "METRICS_PATH", "AdminServer", "metrics_app", "start_admin_server"]

#: Istio's path for a proxy's metrics in Prometheus format.
METRICS_PATH = "/stats/prometheus"
#: The registration port name that advertises the admin listener: the name Istio's sidecar
#: gives its Prometheus port 15090 (``http-envoy-prom``).
ADMIN_PORT_NAME = "http-envoy-prom"
_CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def metrics_app(hook: MetricsHook | None = None) -> ASGIApp:
    """An ASGI app serving ``hook``'s metrics (the process's by default) at
    ``/stats/prometheus``, and at its root when mounted under a path of your choice."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope.get("path", "/")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        if path not in ("", "/", METRICS_PATH):
            await _reply(send, 404, b"text/plain", b"not found: metrics are at /stats/prometheus\n")
            return
        if scope.get("method") not in ("GET", "HEAD"):
            await _reply(send, 405, b"text/plain", b"method not allowed\n")
            return
        body = (hook or default_metrics()).exposition()
        await _reply(send, 200, _CONTENT_TYPE, b"" if scope["method"] == "HEAD" else body)

    return app


async def _reply(send: Send, status: int, content_type: bytes, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True)
class AdminServer:
    """A running admin listener; :meth:`close` stops it."""

    host: str
    port: int
    _server: WSGIServer
    _thread: threading.Thread

    @property
    def url(self) -> str:
        """Where Prometheus scrapes this workload."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{METRICS_PATH}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def start_admin_server(
    host: str = "127.0.0.1", port: int = 0, *, hook: MetricsHook | None = None
) -> AdminServer:
    """Serve ``hook``'s metrics (the process's by default) on ``host:port`` in a daemon
    thread, independent of the application's event loop (as Envoy's admin listener is of
    the application). ``port`` 0 picks a free one: read it from the result."""
    from prometheus_client import start_http_server

    metrics = hook or default_metrics()
    server, thread = start_http_server(port, addr=host, registry=metrics.registry)
    return AdminServer(host=host, port=server.server_port, _server=server, _thread=thread)
