"""The call tier: one request's retry loop, sans-IO.

A ``Call`` is made by the route tier with everything the route decided. The step driver
(:mod:`._driver`) asks it for the next attempt (``next_attempt``: the deadline, the balance
tier's pick, the endpoint tier's httpcore request) and tells it each outcome
(``on_response`` / ``on_error``), which :class:`~inmesh.resilience.RetryState` turns into
DONE, RETRY (after ``delay``) or TIMEOUT. ``finish`` runs exactly once, when the final
response is closed: it releases the endpoint, the retry slot and the admission ticket and
emits the record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpcore
import httpx

from .. import _entropy
from .._entropy import RNG
from .._flags import (
    NO_HEALTHY_UPSTREAM,
    UPSTREAM_CONNECT_FAILURE,
    UPSTREAM_TIMEOUT,
    UT,
    VIA_UPSTREAM,
    LocalReply,
    join_flags,
)
from ..resilience import Deadline, LocalFailure, RetryPolicy, RetryState, Step
from ._answers import Answers
from ._balance import original_destination, pick
from ._endpoint import Exchange, exchange_for
from ._errors import cause, failure_of, raise_as_httpx
from ._exchange import mesh_internal
from ._record import emit_call
from ._wire import wire_headers

if TYPE_CHECKING:
    from .._cluster_state import ClusterState
    from .._state import MeshState
    from ..balancing import Endpoint
    from ..resilience import Ticket
    from ..routing import Cluster, HeaderEdit, RequestView, Route, Snapshot
    from ..telemetry._exchange import PeerMetadata
    from ..telemetry._spans import ClientTrace

_now = time.monotonic
log = logging.getLogger("inmesh.outbound")


def _backoff(step: Step, delay: float) -> float:
    """A retry's wait times the back-off scale (1.0 but in deterministic tests, which
    shorten it as stamina's testing mode does); the wait to a route deadline (TIMEOUT)
    is a real timeout and is never shortened."""
    return delay * _entropy.BACKOFF.scale if step is Step.RETRY else delay


def replayable(request: httpx.Request) -> bool:
    """Bytes in memory can be sent again; a streamed body cannot (Envoy buffers to retry)."""
    return isinstance(request.stream, httpx.ByteStream)


class Call(Answers):
    """One request through the mesh: its route, its cluster, its retry loop, its record."""

    __slots__ = (
        "_cstate",
        "_done",
        "_exchange",
        "_last_ep",
        "_last_key",
        "_state",
        "_ticket",
        "abort",
        "attempts",
        "cluster",
        "delay",
        "error",
        "exchanging",
        "flags",
        "hash_key",
        "headers",
        "raw_path",
        "replayable",
        "request",
        "response_bytes",
        "response_edits",
        "retry",
        "route",
        "set_cookie",
        "snapshot",
        "start",
        "tls",
        "trace",
        "view",
    )

    def __init__(
        self,
        *,
        state: MeshState,
        request: httpx.Request,
        view: RequestView,
        start: float,
        snapshot: Snapshot,
        policy: RetryPolicy,
        cluster: Cluster | None = None,
        route: Route | None = None,
        raw_path: bytes | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
        response_edits: tuple[HeaderEdit, ...] = (),
        hash_key: int | None = None,
        set_cookie: str | None = None,
        ticket: Ticket | None = None,
    ) -> None:
        self._state = state
        self.request = request
        #: the view this request started on (read once, by the route tier)
        self.snapshot = snapshot
        self.view = view
        self.start = start
        self.cluster = cluster
        self.route = route
        self.raw_path = raw_path if raw_path is not None else request.url.raw_path
        #: the headers sent upstream: the request's own, or an edited copy (the
        #: application's request object is never modified)
        self.headers = headers if headers is not None else view.headers.raw
        #: what the destination said about itself (metadata exchange), None until it does
        self.peer: PeerMetadata | None = None
        #: Istio's metadata exchange with the destination: this workload's headers go with
        #: the request, the destination's are read from (and kept from) the response
        self.exchanging = bool(state.exchange) and mesh_internal(cluster)
        if self.exchanging:
            self.headers = [*self.headers, *state.exchange]
        self.response_edits = response_edits
        self.hash_key = hash_key
        self.set_cookie = set_cookie
        self._ticket = ticket
        self.replayable = isinstance(request.stream, httpx.ByteStream)  # (replayable, inline)
        if cluster is not None:
            #: the cluster's state (gate, limiter, outlier detector), read once: a property
            self._cstate: ClusterState | None = cluster.state
            self.retry = RetryState(policy, limiter=self._cstate.limiter, rng=RNG)
            self.tls = cluster.tls
        else:
            self._cstate = None
            self.retry = RetryState(policy, rng=RNG)
            self.tls = None
        self.delay = 0.0
        self.abort: LocalReply | None = None
        self.flags = ""
        self.details = ""
        self.error = ""
        self.attempts = 0
        self._last_key = ""
        self._last_ep: Endpoint | None = None
        self.response_bytes = 0
        #: the final upstream response's httpcore extensions (HTTP version, the
        #: connection's stream), for the record: None when the mesh answered itself
        self.upstream: Mapping[str, Any] | None = None
        #: the server's SPIFFE id when a mesh mTLS attempt answered (for the record)
        self.server_principal = ""
        #: the answer's grpc-status (a trailers-only gRPC response), for the record
        self.grpc_status = ""
        self._exchange: Exchange | None = None
        self._done = False
        #: the client spans when this request is traced and sampled (set by the route tier)
        self.trace: ClientTrace | None = None

    def fault_wait(self) -> tuple[float, bool]:
        """How long to sleep for the fault's delay, and whether the application's own read
        timeout fires first (then it gets ``httpx.ReadTimeout``, as it would waiting on a
        sidecar that injects the delay)."""
        app = (self.request.extensions.get("timeout") or {}).get("read")
        if app is not None and app < self.delay:
            return app, True
        return self.delay, False

    # -- the retry loop -----------------------------------------------------------------

    def next_attempt(self) -> Exchange | httpx.Response:
        """The next attempt, or the mesh's answer when there is none to make."""
        if self.abort is not None:  # the route's fault aborts it (after any delay)
            return self.answer(self.abort)
        now = _now()
        retry = self.retry
        if self.attempts == 0:
            # The route's clock starts after the fault delay (Envoy: the fault filter runs
            # before the router).
            route = self.route
            timeout = route.timeout if route is not None else None
            per_try = retry.policy.per_try_timeout
            if timeout or per_try:
                retry.deadline = Deadline(start=now, route_timeout=timeout, per_try_timeout=per_try)
        t = retry.begin(now)
        if t == 0.0:
            return self.answer(UPSTREAM_TIMEOUT)
        cluster = self.cluster
        view = self.view
        if cluster is None or cluster.original_destination:
            ep = original_destination(self.request.url.raw_host, view.port)
        else:
            found = pick(
                cluster, self._cstate, self.hash_key, retry, now, retrying=self.attempts > 0
            )
            if found is None:
                return self.answer(NO_HEALTHY_UPSTREAM)
            ep = found
        key = ep.key
        mtls = cluster.mtls if cluster is not None else None
        workload_tls = None
        generation = 0
        if mtls is not None and mtls.applies_to(key):
            holder = self._state.tls
            if holder is not None:
                workload_tls = holder.current()
                generation = holder.generation + 1  # 0 stands for "no mTLS"
            elif mtls.explicit:
                # ISTIO_MUTUAL without a certificate: no handshake can succeed (Envoy's
                # cluster would have no secret); auto mTLS falls back to plaintext instead
                self.error = (
                    f"endpoint {key}: ISTIO_MUTUAL needs a workload certificate "
                    "(Mesh(ca=...) or a registry with its CA)"
                )
                return self.answer(UPSTREAM_CONNECT_FAILURE)
        self.attempts += 1
        retry.sent_to(key)
        self._last_key = key
        self._last_ep = ep
        ex = exchange_for(
            request=self.request,
            endpoint=ep,
            cluster=cluster,
            tls=self.tls,
            https=view.scheme == "https",
            server_name=view.host,
            raw_path=self.raw_path,
            headers=self.headers,
            timeout=t,
            snapshot=self.snapshot,
            mtls=mtls,
            workload_tls=workload_tls,
            generation=generation,
        )
        if self.trace is not None:
            self.trace.attempt(self, ex)  # its span, and its context on its headers
        core = ex.core
        # the mesh's own headers go to h11 already checked; the bytes sent are the same
        core.headers = wire_headers(core.headers)  # type: ignore[assignment]
        self._state.active.inc(key)
        self._exchange = ex
        return ex

    def on_response(self, status: int, headers: Sequence[tuple[bytes, bytes]]) -> Step:
        """An attempt got response headers: DONE (this response is the answer), RETRY or
        TIMEOUT (the driver closes this response and sleeps ``delay`` first)."""
        ex = self._exchange
        retry = self.retry
        step = retry.decide(status, now=_now(), headers=headers, body_replayable=self.replayable)
        if step is Step.DONE or step is Step.GIVE_UP:
            if retry.flag:
                self.flags = join_flags(self.flags, retry.flag)
            self.details = VIA_UPSTREAM
            self.error = ""
            # the attempt stays open (in flight) until the application closes the response
            if ex is not None:
                self._record(ex, status)
            return Step.DONE
        self._attempt_over(status)
        self.delay = _backoff(step, retry.delay)
        if step is Step.TIMEOUT:
            self.flags = join_flags(self.flags, UT)
        return step

    def on_error(self, ex: Exchange, exc: BaseException) -> tuple[LocalFailure, Step]:
        """An attempt that got no response headers: the Envoy failure it stands for and the
        next step. The application's own timeouts and errors are raised as httpx's."""
        kind: tuple[LocalFailure, bool] | None
        if isinstance(exc, httpcore.ReadTimeout):
            if not ex.timed_by_mesh:
                raise httpx.ReadTimeout(str(exc) or "timed out") from exc
            kind = LocalFailure.TIMEOUT, True  # the attempt's own time ran out
        else:
            kind = failure_of(exc)
        if kind is None:
            if not isinstance(exc, Exception):
                raise exc
            raise_as_httpx(exc)
        failure, sent = kind
        self.error = f"endpoint {ex.endpoint_key}: {cause(exc)}"
        if self.cluster is None:
            ns = self._state.identity.namespace
            self.error += (
                f" ({self.view.host} is not a mesh host from namespace {ns!r}: sent as it is)"
            )
        return failure, self.on_failure(failure, request_sent=sent)

    def on_failure(self, failure: LocalFailure, *, request_sent: bool) -> Step:
        """An attempt failed without response headers: RETRY, TIMEOUT or DONE (answer
        ``failure_response()``)."""
        self._attempt_over(failure)
        retry = self.retry
        step = retry.decide(
            failure,
            now=_now(),
            request_sent=request_sent,
            body_replayable=self.replayable or not request_sent,
        )
        self.delay = _backoff(step, retry.delay)
        if step is Step.GIVE_UP:
            if retry.flag:
                self.flags = join_flags(self.flags, retry.flag)
            return Step.DONE
        return step

    def _record(self, ex: Exchange, outcome: int | LocalFailure) -> None:
        """Account the attempt's outcome to outlier detection, once."""
        if ex.recorded:
            return
        ex.recorded = True
        cstate = self._cstate
        if cstate is not None and cstate.outlier is not None:
            cstate.outlier.record(ex.endpoint_key, outcome, _now())

    def _attempt_over(self, outcome: int | LocalFailure) -> None:
        ex = self._exchange
        if ex is None:
            return
        self._exchange = None
        self._state.active.dec(ex.endpoint_key)
        if self.trace is not None:
            self.trace.attempt_over(outcome)
        if outcome != 0:  # 0: the application gave up; says nothing about the endpoint
            self._record(ex, outcome)

    def expires(self) -> float:
        """When the route deadline passes (``time.monotonic``; ``math.inf``: no route
        timeout). It bounds the whole response, its body included (Envoy's rule)."""
        return self.retry.deadline.expires

    def finish(self, status: int, flags: str = "") -> None:
        """The request is over (final response closed, or the mesh answered): release the
        endpoint, the retry slot and the admission ticket, and emit the record."""
        if self._done:
            return
        self._done = True
        if self.trace is not None:
            self.trace.finish(self, status, flags or self.flags)
        self._attempt_over(status)
        self.retry.close()
        if self._ticket is not None:
            self._ticket.release()
        emit_call(self, status, flags or self.flags)
