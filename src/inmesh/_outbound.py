"""The outbound path, shared by the async and the sync transport.

    telemetry  -> a RequestRecord for every request (``Outbound.finish``)
    route      -> Snapshot.decide: virtual host, VirtualService match, weighted destination
    balance    -> the cluster's balancer picks an endpoint (consistent-hash key here)
    endpoint   -> an httpcore request to the endpoint address, TLS per DestinationRule

Everything here is synchronous and does no I/O; the two shells in ``_transport`` only send
the prepared httpcore request and wrap the response.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpcore
import httpx

from ._flags import FLAGS_HEADER, NO_HEALTHY_UPSTREAM, LocalReply
from .balancing import Endpoint
from .routing import Forward, Passthrough, Redirect, Reply, RequestView, Snapshot
from .routing._headers import apply_edits
from .routing._request import HeaderSource
from .security._upstream_tls import UpstreamTLS
from .telemetry import RequestRecord

if TYPE_CHECKING:
    from ._mesh import Mesh

PASSTHROUGH_CLUSTER = "PassthroughCluster"


def request_view(request: httpx.Request) -> RequestView:
    """Read what routing matches on from an httpx request, once."""
    url = request.url
    scheme = url.scheme
    port = url.port
    explicit = port is not None
    if port is None:
        port = 443 if scheme == "https" else 80
    raw_path, _, query = url.raw_path.partition(b"?")
    host = url.host
    return RequestView(
        method=request.method,
        scheme=scheme,
        authority=request.headers.get("host") or host,
        host=host,
        port=port,
        explicit_port=explicit,
        path=raw_path.decode("latin-1"),
        query=query.decode("latin-1"),
        headers=HeaderSource(request.headers.raw),
    )


@dataclass(slots=True)
class Exchange:
    """One request on its way: where it goes and what to do with the answer."""

    request: httpx.Request
    core: httpcore.Request
    endpoint_key: str
    tls: UpstreamTLS | None
    destination: str
    subset: str
    cluster: str
    route: str
    response_edits: tuple[object, ...]
    set_cookie: str | None
    start: float
    counted: bool


def local_response(reply: LocalReply, extra: dict[str, str] | None = None) -> httpx.Response:
    """The response an Istio sidecar gives when it ends a request itself."""
    headers = {"content-type": "text/plain", FLAGS_HEADER: reply.flag, "server": "envoy"}
    if extra:
        headers.update(extra)
    return httpx.Response(reply.status, headers=headers, content=reply.body.encode())


class Outbound:
    """Prepares exchanges from the mesh's current snapshot and records their outcome."""

    def __init__(self, mesh: Mesh) -> None:
        self._mesh = mesh

    def prepare(self, request: httpx.Request) -> Exchange | httpx.Response:
        """Decide what happens to ``request``: an exchange to send, or the mesh's answer."""
        start = time.perf_counter()
        snap: Snapshot = self._mesh.snapshot  # one read: the whole request uses this view
        view = request_view(request)
        d = snap.decide(view)
        if isinstance(d, Forward):
            return self._forward(request, view, d, start)
        if isinstance(d, Passthrough):
            return self._exchange(
                request,
                view,
                host=view.host,
                port=view.port,
                tls=None,
                raw_path=request.url.raw_path,
                destination=view.host,
                subset="",
                cluster=PASSTHROUGH_CLUSTER,
                route="",
                edits=(),
                set_cookie=None,
                start=start,
                counted=False,
            )
        if isinstance(d, Redirect):
            resp = httpx.Response(d.status, headers={"location": d.location, "server": "envoy"})
            self.record_local(
                request,
                view,
                resp.status_code,
                "",
                start,
                destination=d.service.host if d.service else view.host,
                route=d.route.name,
            )
            return resp
        assert isinstance(d, Reply)
        resp = local_response(d.reply)
        self.record_local(
            request,
            view,
            d.reply.status,
            d.reply.flag,
            start,
            destination=d.service.host if d.service else view.host,
            route=d.route.name if d.route else "",
            cluster=d.cluster_name,
        )
        return resp

    def _forward(
        self, request: httpx.Request, view: RequestView, d: Forward, start: float
    ) -> Exchange | httpx.Response:
        cluster = d.cluster
        route = d.route
        raw_path = request.url.raw_path
        if route is not None:
            rw = route.rewrite
            if rw is not None:
                path = rw.path(view.path, d.matched)
                raw_path = (path + ("?" + view.query if view.query else "")).encode("latin-1")
                if rw.authority is not None:
                    request.headers["host"] = rw.authority
            dh = d.destination.headers if d.destination is not None else None
            rh = route.headers
            if dh is not None or rh is not None:
                request.headers = apply_edits(
                    (dh.request if dh else None, rh.request if rh else None), request.headers
                )
            response_edits: tuple[object, ...] = tuple(
                e for e in (dh.response if dh else None, rh.response if rh else None) if e
            )
        else:
            response_edits = ()
        hash_key: int | None = None
        set_cookie: str | None = None
        if cluster.hash is not None:
            hash_key, set_cookie = cluster.hash.key(view)
        if cluster.original_destination:
            ep = Endpoint(view.host, view.port)
        else:
            picked = cluster.balancer.pick(hash_key)
            if picked is None:
                resp = local_response(NO_HEALTHY_UPSTREAM)
                self.record_local(
                    request,
                    view,
                    503,
                    "UH",
                    start,
                    destination=cluster.service.host,
                    subset=cluster.subset or "",
                    cluster=cluster.name,
                    route=route.name if route else "",
                )
                return resp
            ep = picked
        return self._exchange(
            request,
            view,
            host=ep.address,
            port=ep.port,
            tls=cluster.tls,
            raw_path=raw_path,
            destination=cluster.service.host,
            subset=cluster.subset or "",
            cluster=cluster.name,
            route=route.name if route else "",
            edits=response_edits,
            set_cookie=set_cookie,
            start=start,
            counted=True,
        )

    def _exchange(
        self,
        request: httpx.Request,
        view: RequestView,
        *,
        host: str,
        port: int,
        tls: UpstreamTLS | None,
        raw_path: bytes,
        destination: str,
        subset: str,
        cluster: str,
        route: str,
        edits: tuple[object, ...],
        set_cookie: str | None,
        start: float,
        counted: bool,
    ) -> Exchange:
        extensions = request.extensions
        if tls is not None:
            scheme = b"https"
            extensions = {**extensions, "sni_hostname": tls.sni}
        elif view.scheme == "https":
            # The application speaks TLS itself: keep its server name for SNI and checks.
            scheme = b"https"
            extensions = {**extensions, "sni_hostname": view.host}
        else:
            scheme = b"http"
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=scheme, host=host.encode("ascii"), port=port, target=raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=extensions,
        )
        key = f"{host}:{port}"
        if counted:
            self._mesh.active.inc(key)
        return Exchange(
            request=request,
            core=core,
            endpoint_key=key,
            tls=tls,
            destination=destination,
            subset=subset,
            cluster=cluster,
            route=route,
            response_edits=edits,
            set_cookie=set_cookie,
            start=start,
            counted=counted,
        )

    def respond(
        self, ex: Exchange, status: int, headers: list[tuple[bytes, bytes]]
    ) -> httpx.Headers:
        """The response headers the application sees (route/destination response edits,
        a generated hash cookie)."""
        h = httpx.Headers(headers)
        if ex.response_edits:
            h = apply_edits(ex.response_edits, h)  # type: ignore[arg-type]
        if ex.set_cookie is not None:
            h = httpx.Headers([*h.multi_items(), ("set-cookie", ex.set_cookie)])
        return h

    def fail(self, ex: Exchange, reply: LocalReply) -> httpx.Response:
        """The mesh's answer when the exchange could not get a response upstream."""
        self.finish(ex, reply.status, reply.flag, attempts=1)
        return local_response(reply)

    def finish(self, ex: Exchange, status: int, flags: str, attempts: int = 1) -> None:
        """The exchange is over (response closed or failed): release and record it."""
        if ex.counted:
            self._mesh.active.dec(ex.endpoint_key)
        self._emit(
            ex.request,
            status,
            flags,
            ex.start,
            attempts=attempts,
            destination=ex.destination,
            subset=ex.subset,
            endpoint=ex.endpoint_key,
            cluster=ex.cluster,
            route=ex.route,
        )

    def record_local(
        self,
        request: httpx.Request,
        view: RequestView,
        status: int,
        flags: str,
        start: float,
        *,
        destination: str,
        subset: str = "",
        cluster: str = "",
        route: str = "",
    ) -> None:
        self._emit(
            request,
            status,
            flags,
            start,
            attempts=0,
            destination=destination,
            subset=subset,
            endpoint="",
            cluster=cluster,
            route=route,
        )

    def _emit(
        self,
        request: httpx.Request,
        status: int,
        flags: str,
        start: float,
        *,
        attempts: int,
        destination: str,
        subset: str,
        endpoint: str,
        cluster: str,
        route: str,
    ) -> None:
        hooks = self._mesh.hooks
        if not hooks:
            return
        mesh = self._mesh
        end = time.perf_counter()
        rec = RequestRecord(
            source_service=mesh.service,
            source_namespace=mesh.namespace,
            source_version=mesh.labels.get("version", ""),
            destination_service=destination,
            destination_subset=subset,
            destination_endpoint=endpoint,
            route_name=route,
            cluster=cluster,
            method=request.method,
            path=request.url.path,
            status=status,
            response_flags=flags or "-",
            attempts=attempts,
            duration=end - start,
            start_time=time.time() - (end - start),
        )
        for hook in hooks:
            hook(rec)
