"""The outbound path, shared by the async and the sync transport.

    telemetry  -> one RequestRecord per request (``Call.finish``)
    route      -> Snapshot.decide: virtual host, VirtualService match, weighted destination
    fault      -> the route's fault (delay / abort), before the router as in Envoy
    admission  -> the cluster's connection-pool gate (503 UO past a threshold)
    retry loop -> RetryState: per-try timeout, retryOn, backoff, budget (``Call.next_send``,
                  ``Call.on_response``, ``Call.on_failure``)
    balance    -> the cluster's balancer picks an endpoint, skipping ejected hosts (and
                  hosts already tried); outlier detection records every outcome
    endpoint   -> an httpcore request to the endpoint address, TLS per DestinationRule

Everything here is synchronous and does no I/O: the two shells in ``_transport`` only
sleep, send the prepared httpcore requests and wrap the final response.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpcore
import httpx

from ._flags import (
    FLAGS_HEADER,
    NO_HEALTHY_UPSTREAM,
    UPSTREAM_OVERFLOW,
    UPSTREAM_TIMEOUT,
    LocalReply,
    join_flags,
)
from .balancing import Endpoint
from .resilience import (
    ABORT_BODY,
    ABORT_FLAG,
    CLASSIFIER,
    DELAY_FLAG,
    NO_RETRIES,
    Deadline,
    LocalFailure,
    RetryPolicy,
    RetryState,
    Step,
    Ticket,
    shadow_authority,
)
from .routing import Forward, Passthrough, Redirect, Reply, RequestView, Snapshot
from .routing._clusters import Cluster
from .routing._headers import HeaderEdit, apply_edits
from .routing._request import HeaderSource
from .routing._routes import Route
from .security._upstream_tls import UpstreamTLS
from .telemetry import RequestRecord

if TYPE_CHECKING:
    from ._mesh import Mesh

PASSTHROUGH_CLUSTER = "PassthroughCluster"
_RNG = random.Random()
_now = time.monotonic


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


def local_response(reply: LocalReply, flags: str | None = None) -> httpx.Response:
    """The response an Istio sidecar gives when it ends a request itself."""
    headers = {"content-type": "text/plain", FLAGS_HEADER: flags or reply.flag, "server": "envoy"}
    return httpx.Response(reply.status, headers=headers, content=reply.body.encode())


@dataclass(slots=True)
class Exchange:
    """One attempt on its way to one endpoint."""

    core: httpcore.Request
    endpoint_key: str
    #: (cluster, endpoint, pool settings): a pool per host, as Envoy has; new TLS or
    #: connection-pool settings get a new pool
    pool_key: tuple[str, str, object]
    tls: UpstreamTLS | None
    timeout: float | None  # the attempt's time: per-try timeout or what the route has left
    timed_by_mesh: bool  # a read timeout is the attempt's timeout, not the app's own
    recorded: bool = False


def _replayable(request: httpx.Request) -> bool:
    """Bytes in memory can be sent again; a streamed body cannot (Envoy buffers to retry)."""
    return isinstance(request.stream, httpx.ByteStream)


class Call:
    """One request through the mesh: its route, its cluster, its retry loop, its record.

    The shell drives it: ``delay`` (sleep first, the fault's), then ``next_send()`` to get
    an Exchange (or the mesh's final answer), then ``on_response``/``on_failure`` with the
    outcome, which say RETRY (sleep ``delay``, send again) or give the final response.
    ``finish`` runs exactly once, when the final response is closed.
    """

    __slots__ = (
        "_done",
        "_exchange",
        "_last_key",
        "_mesh",
        "_ticket",
        "abort",
        "attempts",
        "cluster",
        "delay",
        "flags",
        "hash_key",
        "headers",
        "raw_path",
        "replayable",
        "request",
        "response_edits",
        "route",
        "set_cookie",
        "snapshot",
        "start",
        "state",
        "tls",
        "view",
    )

    def __init__(
        self,
        mesh: Mesh,
        request: httpx.Request,
        view: RequestView,
        start: float,
        cluster: Cluster | None,
        route: Route | None,
        raw_path: bytes,
        response_edits: tuple[HeaderEdit, ...],
        hash_key: int | None,
        set_cookie: str | None,
        ticket: Ticket | None,
        policy: RetryPolicy,
        headers: list[tuple[bytes, bytes]] | None = None,
        *,
        snapshot: Snapshot,
    ) -> None:
        self._mesh = mesh
        self.request = request
        #: the view this request started on (read once, in Outbound.start)
        self.snapshot = snapshot
        self.view = view
        self.start = start
        self.cluster = cluster
        self.route = route
        self.raw_path = raw_path
        #: the headers sent upstream: the request's own, or an edited copy (the
        #: application's request object is never modified)
        self.headers = headers if headers is not None else request.headers.raw
        self.response_edits = response_edits
        self.hash_key = hash_key
        self.set_cookie = set_cookie
        self._ticket = ticket
        self.replayable = _replayable(request)
        limiter = cluster.state.limiter if cluster is not None else None
        self.state = RetryState(policy, limiter=limiter, rng=_RNG)
        self.tls = cluster.tls if cluster is not None else None
        self.delay = 0.0
        self.abort: LocalReply | None = None
        self.flags = ""
        self.attempts = 0
        self._last_key = ""
        self._exchange: Exchange | None = None
        self._done = False

    def fault_wait(self) -> tuple[float, bool]:
        """How long to sleep for the fault's delay, and whether the application's own read
        timeout fires first (then it gets ``httpx.ReadTimeout``, as it would waiting on a
        sidecar that injects the delay)."""
        app = (self.request.extensions.get("timeout") or {}).get("read")
        if app is not None and app < self.delay:
            return app, True
        return self.delay, False

    # -- the retry loop -----------------------------------------------------------------

    def next_send(self) -> Exchange | httpx.Response:
        """The next attempt, or the mesh's answer when there is none to make."""
        if self.abort is not None:  # the route's fault aborts it (after any delay)
            return self.answer(self.abort, self.abort.flag)
        now = _now()
        state = self.state
        if self.attempts == 0:
            # The route's clock starts after the fault delay (Envoy: the fault filter runs
            # before the router).
            route = self.route
            timeout = route.timeout if route is not None else None
            per_try = state.policy.per_try_timeout
            if timeout or per_try:
                state.deadline = Deadline(start=now, route_timeout=timeout, per_try_timeout=per_try)
        t = state.begin(now)
        if t == 0.0:
            return self.answer(UPSTREAM_TIMEOUT)
        cluster = self.cluster
        ep: Endpoint | None
        if cluster is None or cluster.original_destination:
            # the URL's host as sent on the wire (IDNA-encoded), not its Unicode form
            ep = Endpoint(self.request.url.raw_host.decode("ascii"), self.view.port)
        else:
            outlier = cluster.state.outlier
            ejected = outlier.ejected_keys(now) if outlier is not None else frozenset()
            ep = cluster.balancer.pick(self.hash_key, state.excluding(ejected))
            if ep is None and self.attempts:
                # Every untried host is gone: Envoy's host selection retries then take a
                # previously tried one rather than fail.
                ep = cluster.balancer.pick(self.hash_key, ejected)
        if ep is None:
            return self.answer(NO_HEALTHY_UPSTREAM)
        self.attempts += 1
        state.sent_to(ep.key)
        self._last_key = ep.key
        ex = self._exchange_for(ep, t)
        self._mesh.active.inc(ep.key)
        self._exchange = ex
        return ex

    def _exchange_for(self, ep: Endpoint, timeout: float | None) -> Exchange:
        request = self.request
        extensions = request.extensions
        tls = self.tls
        if tls is not None:
            scheme = b"https"
            extensions = {**extensions, "sni_hostname": tls.sni}
        elif self.view.scheme == "https":
            # The application speaks TLS itself: keep its server name for SNI and checks.
            scheme = b"https"
            extensions = {**extensions, "sni_hostname": self.view.host}
        else:
            scheme = b"http"
        cluster = self.cluster
        app = extensions.get("timeout") or {}
        timeouts: dict[str, float | None] | None = None
        if cluster is not None:
            connect = app.get("connect")
            # connectTimeout (Istio default 10 s) and the application's own: the shorter.
            if connect is None or cluster.state.limits.connect_timeout < connect:
                timeouts = {**app, "connect": cluster.state.limits.connect_timeout}
        ours = False
        if timeout is not None:
            # The attempt's time (per-try timeout, or what the route has left) caps each of
            # httpcore's timeouts (pool, connect, write, read): the sync shell's whole
            # bound, and the async shell's inner one (it also wraps the attempt in one
            # deadline). When the application's own read timeout is shorter it stays in
            # force, and a timeout is then the application's (httpx.ReadTimeout).
            t = max(timeout, 1e-3)
            capped = dict(timeouts or app)
            for phase in ("pool", "connect", "write"):
                current = capped.get(phase)
                if current is None or t < current:
                    capped[phase] = t
            read = app.get("read")
            if read is None or timeout < read:
                capped["read"] = t
                ours = True
            timeouts = capped
        if timeouts is not None:
            extensions = {**extensions, "timeout": timeouts}
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=scheme, host=ep.address.encode("ascii"), port=ep.port, target=self.raw_path
            ),
            headers=self.headers,
            content=request.stream,
            extensions=extensions,
        )
        pool_key: tuple[str, str, object] = (
            (cluster.name, ep.key, cluster.pool_settings)
            if cluster is not None
            else (PASSTHROUGH_CLUSTER, ep.key, None)
        )
        return Exchange(core, ep.key, pool_key, tls, timeout, ours)

    def _record(self, ex: Exchange, outcome: int | LocalFailure) -> None:
        """Account the attempt's outcome to outlier detection, once."""
        if ex.recorded:
            return
        ex.recorded = True
        cluster = self.cluster
        if cluster is not None and cluster.state.outlier is not None:
            cluster.state.outlier.record(ex.endpoint_key, outcome, _now())

    def _attempt_over(self, outcome: int | LocalFailure) -> None:
        ex = self._exchange
        if ex is None:
            return
        self._exchange = None
        self._mesh.active.dec(ex.endpoint_key)
        if outcome != 0:  # 0: the application gave up; says nothing about the endpoint
            self._record(ex, outcome)

    def on_response(self, status: int, headers: Sequence[tuple[bytes, bytes]]) -> Step:
        """An attempt got response headers: DONE (this response is the answer) or RETRY.

        On RETRY the shell closes this response and sleeps ``delay`` first."""
        ex = self._exchange
        step = self.state.decide(
            status, now=_now(), headers=headers, body_replayable=self.replayable
        )
        if step is Step.DONE or step is Step.GIVE_UP:
            if self.state.flag:
                self.flags = join_flags(self.flags, self.state.flag)
            # the attempt stays open (in flight) until the application closes the response
            if ex is not None:
                self._record(ex, status)
            return Step.DONE
        self._attempt_over(status)
        if step is Step.TIMEOUT:
            self.delay = self.state.delay
            self.flags = join_flags(self.flags, "UT")
            return Step.TIMEOUT
        self.delay = self.state.delay
        return Step.RETRY

    def on_failure(self, failure: LocalFailure, *, request_sent: bool) -> Step:
        """An attempt failed without response headers: RETRY, TIMEOUT or DONE (answer
        ``failure_response()``)."""
        self._attempt_over(failure)
        step = self.state.decide(
            failure,
            now=_now(),
            request_sent=request_sent,
            body_replayable=self.replayable or not request_sent,
        )
        self.delay = self.state.delay
        if step is Step.GIVE_UP and self.state.flag:
            self.flags = join_flags(self.flags, self.state.flag)
        return Step.DONE if step is Step.GIVE_UP else step

    def live_pools(self) -> set[tuple[str, str, object]]:
        """The pool keys this request's snapshot can use. An original-destination
        cluster (ServiceEntry ``resolution: NONE``) has no endpoint list: its pools are
        keyed with the endpoint ``*``, meaning any."""
        out: set[tuple[str, str, object]] = set()
        for cluster in self.snapshot.clusters.values():
            if cluster.original_destination:
                out.add((cluster.name, "*", cluster.pool_settings))
            for e in cluster.endpoints:
                out.add((cluster.name, e.key, cluster.pool_settings))
        return out

    def remaining(self) -> float | None:
        """Seconds left before the route deadline (None: no route timeout)."""
        return self.state.deadline.remaining(_now())

    # -- answers ------------------------------------------------------------------------

    def failure_response(self, failure: LocalFailure) -> httpx.Response:
        """The mesh's answer when the last attempt failed this way (URX added when the
        retries ran out: Envoy prints e.g. ``UF,URX``)."""
        reply = CLASSIFIER.local_reply(failure)
        return self.answer(reply, flags=join_flags(reply.flag, self.flags))

    def answer(self, reply: LocalReply, flags: str | None = None) -> httpx.Response:
        """Finish with a reply of the mesh's own."""
        f = flags or reply.flag
        self.finish(reply.status, f)
        return local_response(reply, f)

    def response_headers(self, headers: list[tuple[bytes, bytes]]) -> httpx.Headers:
        """The final response's headers: route/destination response edits, a generated
        consistent-hash cookie, and the flags (URX...) when the mesh set any."""
        h = httpx.Headers(headers)
        if self.response_edits:
            h = apply_edits(self.response_edits, h)
        if self.set_cookie is not None:
            h = httpx.Headers([*h.multi_items(), ("set-cookie", self.set_cookie)])
        if self.flags:
            h[FLAGS_HEADER] = self.flags
        return h

    def finish(self, status: int, flags: str = "") -> None:
        """The request is over (final response closed, or the mesh answered): release the
        endpoint, the retry slot and the admission ticket, and emit the record."""
        if self._done:
            return
        self._done = True
        self._attempt_over(status)
        self.state.close()
        if self._ticket is not None:
            self._ticket.release()
        emit(
            self._mesh,
            self.request,
            status,
            flags or self.flags,
            self.start,
            attempts=self.attempts,
            cluster=self.cluster,
            route=self.route,
            endpoint=self._last_key,
            destination=self.view.host,
        )


def emit(
    mesh: Mesh,
    request: httpx.Request,
    status: int,
    flags: str,
    start: float,
    *,
    attempts: int,
    cluster: Cluster | None,
    route: Route | None,
    endpoint: str = "",
    destination: str = "",
    cluster_name: str = "",
) -> None:
    """Deliver one RequestRecord to the mesh's hooks (nothing to do without hooks)."""
    hooks = mesh.hooks
    if not hooks:
        return
    end = time.perf_counter()
    rec = RequestRecord(
        source_service=mesh.service,
        source_namespace=mesh.namespace,
        source_version=mesh.labels.get("version", ""),
        destination_service=cluster.service.host if cluster is not None else destination,
        destination_subset=(cluster.subset or "") if cluster is not None else "",
        destination_endpoint=endpoint,
        route_name=route.name if route is not None else "",
        cluster=cluster.name if cluster is not None else (cluster_name or PASSTHROUGH_CLUSTER),
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


class Outbound:
    """Turns an httpx request into a Call (or the mesh's immediate answer)."""

    def __init__(self, mesh: Mesh) -> None:
        self._mesh = mesh

    def start(self, request: httpx.Request) -> tuple[Call | httpx.Response, list[Call]]:
        """Decide what happens to ``request``; also return mirror copies to fire off."""
        start = time.perf_counter()
        mesh = self._mesh
        snap: Snapshot = mesh.snapshot  # one read: the whole request uses this view
        view = request_view(request)
        d = snap.decide(view)
        if isinstance(d, Forward):
            return self._forward(snap, request, view, d, start)
        if isinstance(d, Passthrough):
            # Istio's PassthroughCluster: no retries, no policies.
            return Call(
                mesh,
                request,
                view,
                start,
                None,
                None,
                request.url.raw_path,
                (),
                None,
                None,
                None,
                NO_RETRIES,
                snapshot=snap,
            ), []
        if isinstance(d, Redirect):
            emit(
                mesh,
                request,
                d.status,
                "",
                start,
                attempts=0,
                cluster=None,
                route=d.route,
                destination=d.service.host if d.service else view.host,
            )
            return httpx.Response(d.status, headers={"location": d.location, "server": "envoy"}), []
        assert isinstance(d, Reply)
        emit(
            mesh,
            request,
            d.reply.status,
            d.reply.flag,
            start,
            attempts=0,
            cluster=None,
            route=d.route,
            destination=d.service.host if d.service else view.host,
            cluster_name=d.cluster_name,
        )
        return local_response(d.reply), []

    def _forward(
        self, snap: Snapshot, request: httpx.Request, view: RequestView, d: Forward, start: float
    ) -> tuple[Call | httpx.Response, list[Call]]:
        mesh = self._mesh
        cluster = d.cluster
        route = d.route
        raw_path = request.url.raw_path
        response_edits: tuple[HeaderEdit, ...] = ()
        headers: list[tuple[bytes, bytes]] | None = None
        mirrors: list[Call] = []
        delay: float | None = None
        if route is not None:
            if route.fault is not None:
                # Envoy's fault filter runs before the router: an abort is answered here,
                # never sent or retried; a delay is slept before the route timeout starts.
                delay, abort = route.fault.decide(_RNG)
                if abort is not None:
                    call = Call(
                        mesh,
                        request,
                        view,
                        start,
                        cluster,
                        route,
                        raw_path,
                        (),
                        None,
                        None,
                        None,
                        NO_RETRIES,
                        snapshot=snap,
                    )
                    flags = f"{DELAY_FLAG},{ABORT_FLAG}" if delay else ABORT_FLAG
                    call.abort = LocalReply(abort, ABORT_BODY, flags)
                    call.delay = delay or 0.0
                    return call, []
            rw = route.rewrite
            edited: httpx.Headers | None = None  # a copy: the app's request stays as it was
            if rw is not None:
                path = rw.path(view.path, d.matched)
                raw_path = (path + ("?" + view.query if view.query else "")).encode("latin-1")
                if rw.authority is not None:
                    edited = request.headers.copy()
                    edited["host"] = rw.authority
            dh = d.destination.headers if d.destination is not None else None
            rh = route.headers
            if dh is not None or rh is not None:
                edited = apply_edits(
                    (dh.request if dh else None, rh.request if rh else None),
                    edited if edited is not None else request.headers.copy(),
                )
                response_edits = tuple(
                    e for e in (dh.response if dh else None, rh.response if rh else None) if e
                )
            if edited is not None:
                headers = edited.raw
            if route.mirrors:
                mirrors = self._mirrors(snap, request, route, raw_path, start, headers)
        hash_key: int | None = None
        set_cookie: str | None = None
        if cluster.hash is not None:
            hash_key, set_cookie = cluster.hash.key(view)
        ticket = cluster.state.gate.try_acquire()
        if ticket is None:
            # Past a connection-pool threshold Envoy answers at once: 503, flag UO.
            emit(mesh, request, 503, "UO", start, attempts=0, cluster=cluster, route=route)
            return local_response(UPSTREAM_OVERFLOW), mirrors
        if route is None:
            policy = _DEFAULT_POLICY
        else:
            policy = route.retry_hashing if cluster.hash is not None else route.retry
        call = Call(
            mesh,
            request,
            view,
            start,
            cluster,
            route,
            raw_path,
            response_edits,
            hash_key,
            set_cookie,
            ticket,
            policy,
            headers,
            snapshot=snap,
        )
        if delay:
            call.delay = delay
            call.flags = DELAY_FLAG
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
        if not _replayable(request):
            return []
        out: list[Call] = []
        for m in route.mirrors:
            if not m.policy.should_mirror(_RNG):
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
            view = request_view(copy)
            out.append(
                Call(
                    self._mesh,
                    copy,
                    view,
                    start,
                    cluster,
                    None,
                    raw_path,
                    (),
                    None,
                    None,
                    None,
                    NO_RETRIES,
                    snapshot=snap,
                )
            )
        return out


_DEFAULT_POLICY = RetryPolicy.from_istio(None)


def failure_kind(exc: Exception) -> tuple[LocalFailure, bool] | None:
    """The Envoy failure an httpcore error stands for, and whether the request had been
    sent; None for errors that are the application's own (its timeouts, its pool)."""
    if isinstance(exc, httpcore.ConnectTimeout):
        return LocalFailure.CONNECT_TIMEOUT, False
    if isinstance(exc, httpcore.ConnectError):
        return LocalFailure.CONNECT_FAILURE, False
    if isinstance(exc, httpcore.WriteError):
        return LocalFailure.RESET_BEFORE_HEADERS, False
    if isinstance(exc, (httpcore.RemoteProtocolError, httpcore.ReadError)):
        return LocalFailure.RESET_BEFORE_HEADERS, True
    return None
