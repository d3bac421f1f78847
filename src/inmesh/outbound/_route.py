"""The route tier: what happens to a request before any endpoint is chosen.

It reads the snapshot once (the whole request uses that view), matches the route
(``Snapshot.decide``), and applies what the route says before the router sends anything:
the fault (an abort is answered here; a delay is slept by the shell), rewrite, header edits,
mirror copies, the consistent-hash key, and the cluster's connection-pool admission
(503 UO past a threshold). The result is a :class:`~._call.Call`, or the mesh's answer.
"""

from __future__ import annotations

import time

import httpx

from .._entropy import RNG
from .._errors import MeshStateError
from .._flags import (
    BLACKHOLE,
    DI,
    FI,
    NO_CLUSTER,
    NO_HEALTHY_UPSTREAM,
    NO_ROUTE,
    UPSTREAM_OVERFLOW,
    LocalReply,
    join_flags,
)
from .._state import MeshState
from ..resilience import ABORT_BODY, NO_RETRIES, RetryPolicy, shadow_authority
from ..routing import (
    Forward,
    HeaderEdit,
    HeaderSource,
    Passthrough,
    Redirect,
    Reply,
    RequestView,
    Route,
    Snapshot,
    apply_edits,
)
from ..telemetry._propagation import _inbound
from ..telemetry._spans import ClientTrace, outbound_headers
from ._answers import local_response
from ._call import Call, replayable
from ._record import emit

_DEFAULT_POLICY = RetryPolicy.from_istio(None)


def request_view(request: httpx.Request) -> RequestView:
    """Read what routing matches on from an httpx request, once."""
    return _view(request, request.headers.raw)[0]


def _view(request: httpx.Request, raw: list[tuple[bytes, bytes]]) -> tuple[RequestView, bytes]:
    """The request's view, with the headers ``raw`` it goes with, and its raw target (path
    and query, as sent)."""
    url = request.url
    scheme = url.scheme
    port = url.port
    explicit = port is not None
    if port is None:
        port = 443 if scheme == "https" else 80
    target = url.raw_path
    raw_path, _, query = target.partition(b"?")
    view = RequestView(  # positional (method, scheme, host, port, explicit_port, path,
        # query, headers): this runs on every request
        request.method,
        scheme,
        url.host,
        port,
        explicit,
        raw_path.decode("latin-1"),
        query.decode("latin-1"),
        HeaderSource(raw),
    )
    return view, target


def _headers_of(
    request: httpx.Request, propagated: list[tuple[bytes, bytes]] | None
) -> httpx.Headers:
    """A copy of the headers to edit (the application's request is never modified), with
    what in-process propagation added (``propagated``, None when nothing)."""
    return request.headers.copy() if propagated is None else httpx.Headers(propagated)


def _why(reply: Reply, view: RequestView, namespace: str) -> str:
    """The route tier's cause for a request the mesh answers itself."""
    r = reply.reply
    if r is BLACKHOLE:
        return (
            f"route: {view.host} is not a mesh host from namespace {namespace!r} "
            "(outboundTrafficPolicy REGISTRY_ONLY)"
        )
    if r is NO_CLUSTER:
        return f"route: no cluster {reply.cluster_name or view.host}"
    if r is NO_ROUTE:
        svc = reply.service
        if svc is not None and reply.route is None and svc.port(view.port) is None:
            return f"route: {svc.host} has no port {view.port}"
        return f"route: no route matched {view.method} {view.host}{view.path}"
    if r is NO_HEALTHY_UPSTREAM:
        return "route: the route has no destination with weight"
    return ""


class RouteTier:
    """Turns an httpx request into a Call (or the mesh's immediate answer)."""

    __slots__ = ("_state",)

    def __init__(self, state: MeshState) -> None:
        self._state = state

    def start(self, request: httpx.Request) -> tuple[Call | httpx.Response, list[Call]]:
        """Decide what happens to ``request``; also return mirror copies to fire off."""
        start = time.perf_counter()
        state = self._state
        if state.not_ready is not None:
            raise MeshStateError(state.not_ready)
        snap = state.snapshot  # one read: the whole request uses this view
        raw = request.headers.raw  # (a new list at each read: read once)
        inbound = _inbound.get()
        trace: ClientTrace | None = None
        propagated: list[tuple[bytes, bytes]] | None = None
        if inbound is not None or state.client_tracing is not None:
            # in-process propagation: x-request-id and the trace continue from the
            # inbound request being handled (routing sees them, as a sidecar would)
            sent, trace = outbound_headers(raw, inbound, state.client_tracing)
            if sent is not raw:
                raw = propagated = sent
        view, target = _view(request, raw)
        d = snap.decide(view)
        if isinstance(d, Forward):
            found, mirrors = self._forward(snap, request, view, target, d, start, propagated)
            if trace is not None and isinstance(found, Call):
                found.trace = trace
            return found, mirrors
        if isinstance(d, Passthrough):
            # Istio's PassthroughCluster: no retries, no policies.
            call = Call(
                state=state,
                request=request,
                view=view,
                start=start,
                snapshot=snap,
                policy=NO_RETRIES,
            )
            call.trace = trace
            return call, []
        destination = d.service.host if d.service else view.host
        if isinstance(d, Redirect):
            emit(
                state,
                request,
                view=view,
                status=d.status,
                flags="",
                start=start,
                cluster=None,
                route=d.route,
                destination=destination,
            )
            return httpx.Response(d.status, headers={"location": d.location, "server": "envoy"}), []
        assert isinstance(d, Reply)
        emit(
            state,
            request,
            view=view,
            status=d.reply.status,
            flags=d.reply.flag,
            start=start,
            cluster=None,
            route=d.route,
            destination=destination,
            cluster_name=d.cluster_name,
            details=d.reply.details,
            error=_why(d, view, state.identity.namespace),
        )
        return local_response(d.reply), []

    def _forward(
        self,
        snap: Snapshot,
        request: httpx.Request,
        view: RequestView,
        raw_path: bytes,
        d: Forward,
        start: float,
        propagated: list[tuple[bytes, bytes]] | None = None,
    ) -> tuple[Call | httpx.Response, list[Call]]:
        state = self._state
        cluster = d.cluster
        route = d.route
        response_edits: tuple[HeaderEdit, ...] = ()
        headers: list[tuple[bytes, bytes]] | None = None
        mirrors: list[Call] = []
        delay: float | None = None
        if route is not None:
            if route.fault is not None:
                # Envoy's fault filter runs before the router: an abort is answered here,
                # never sent or retried; a delay is slept before the route timeout starts.
                delay, abort = route.fault.decide(RNG)
                if abort is not None:
                    call = Call(
                        state=state,
                        request=request,
                        view=view,
                        start=start,
                        snapshot=snap,
                        policy=NO_RETRIES,
                        cluster=cluster,
                        route=route,
                    )
                    flags = join_flags(DI, FI) if delay else FI
                    call.abort = LocalReply(abort, ABORT_BODY, flags, "fault_filter_abort")
                    call.delay = delay or 0.0
                    return call, []
            rw = route.rewrite
            edited: httpx.Headers | None = None  # a copy: the app's request stays as it was
            if rw is not None:
                path = rw.path(view.path, d.matched)
                raw_path = (path + ("?" + view.query if view.query else "")).encode("latin-1")
                if rw.authority is not None:
                    edited = _headers_of(request, propagated)
                    edited["host"] = rw.authority
            dh = d.destination.headers if d.destination is not None else None
            rh = route.headers
            if dh is not None or rh is not None:
                edited = apply_edits(
                    (dh.request if dh else None, rh.request if rh else None),
                    edited if edited is not None else _headers_of(request, propagated),
                )
                response_edits = tuple(
                    e for e in (dh.response if dh else None, rh.response if rh else None) if e
                )
            if edited is not None:
                headers = edited.raw
            if route.mirrors:
                sent = headers if headers is not None else propagated
                mirrors = self._mirrors(snap, request, route, raw_path, start, sent)
        hash_key: int | None = None
        set_cookie: str | None = None
        if cluster.hash is not None:
            hash_key, set_cookie = cluster.hash.key(view)
        ticket = cluster.state.gate.try_acquire()
        if ticket is None:
            # Past a connection-pool threshold Envoy answers at once: 503, flag UO.
            emit(
                state,
                request,
                view=view,
                status=503,
                flags=UPSTREAM_OVERFLOW.flag,
                start=start,
                cluster=cluster,
                route=route,
                details=UPSTREAM_OVERFLOW.details,
                error=f"balance {cluster.name}: connection pool limit reached",
            )
            return local_response(UPSTREAM_OVERFLOW), mirrors
        if route is None:
            policy = _DEFAULT_POLICY
        else:
            policy = route.retry_hashing if cluster.hash is not None else route.retry
        call = Call(
            state=state,
            request=request,
            view=view,
            start=start,
            snapshot=snap,
            policy=policy,
            cluster=cluster,
            route=route,
            raw_path=raw_path,
            headers=headers,
            response_edits=response_edits,
            hash_key=hash_key,
            set_cookie=set_cookie,
            ticket=ticket,
        )
        if delay:
            call.delay = delay
            call.flags = DI
        return call, mirrors

    def _mirrors(
        self,
        snap: Snapshot,
        request: httpx.Request,
        route: Route,
        raw_path: bytes,
        start: float,
        headers: list[tuple[bytes, bytes]] | None,
    ) -> list[Call]:
        """Copies for the route's mirrors: authority suffixed ``-shadow`` (Envoy's rule),
        only for bodies in memory; answers are discarded."""
        if not replayable(request):
            return []
        out: list[Call] = []
        for m in route.mirrors:
            if not m.policy.should_mirror(RNG):
                continue
            cluster = snap.cluster_for(m.host, m.subset, m.port)
            if cluster is None:
                continue
            copy = httpx.Request(
                request.method,
                request.url,
                headers=headers if headers is not None else request.headers,
                content=request.content,
                extensions=request.extensions,
            )
            copy.headers["host"] = shadow_authority(request.headers.get("host") or "")
            out.append(
                Call(
                    state=self._state,
                    request=copy,
                    view=request_view(copy),
                    start=start,
                    snapshot=snap,
                    policy=NO_RETRIES,
                    cluster=cluster,
                    raw_path=raw_path,
                )
            )
        return out
