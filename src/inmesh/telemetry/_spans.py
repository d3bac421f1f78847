"""The spans: one server span per inbound request, one client span per outbound attempt.

Names and tags follow Istio's sidecar: the span name is the route's trace operation
``<host>:<port>/*`` (``TraceOperation`` in ``pilot/pkg/networking/telemetry``), and Envoy's
HTTP tracer tags ``guid:x-request-id``, ``upstream_cluster``, ``response_flags`` and
``node_id`` beside Istio's ``istio.*`` service tags. The attributes are the stable HTTP
semantic conventions (``http.request.method``, ``url.full``/``url.path``,
``server.address``, ``server.port``, ``http.response.status_code``, ``error.type``,
``http.request.resend_count``...), plus the mesh's own: ``inmesh.route``,
``inmesh.subset``, ``inmesh.attempts``. A retried request has one client span per attempt,
as the conventions say, each a child of the server span (or of the caller's context).

Unsampled requests make no OpenTelemetry object at all: only the ids that propagate.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from ._propagation import (
    TRACE_HEADERS,
    W3C,
    InboundContext,
    TraceContext,
    b3_of,
    format_headers,
    parse_headers,
)
from ._tracing import MeshTracer, new_span_id, new_trace_id

if TYPE_CHECKING:
    import httpx

    from ..resilience import LocalFailure

__all__ = [
    "ClientTrace",
    "end_server_span",
    "outbound_headers",
    "start_sampled_server_span",
    "start_server_span",
]

_REQUEST_ID = b"x-request-id"
_new_context = tuple.__new__
_USER_AGENT = b"user-agent"


def _unsampled(parent: TraceContext | None) -> TraceContext:
    """The context an unsampled hop passes on: the trace continues (its ids propagate,
    ``sampled=0``, as Envoy's) but nothing is recorded."""
    if parent is not None and parent.trace_id:
        # positional through tuple.__new__: the named tuple's keyword constructor costs a
        # Python call more, on every unsampled outbound request
        return _new_context(
            TraceContext,
            (
                parent.trace_id,
                new_span_id(),
                False,
                parent.tracestate,
                parent.span_id,
                parent.format,
            ),
        )
    # a new trace; a caller's bare decision (B3 ``b3: 0``) is continued in its format
    fmt = parent.format if parent is not None else W3C
    return TraceContext(new_trace_id(), new_span_id(), False, format=fmt)


def _header_tags(
    tracer: MeshTracer, headers: list[tuple[bytes, bytes]], out: dict[str, Any]
) -> None:
    for tag, h in tracer.header_tags.items():
        wanted = h.name.lower().encode("latin-1")
        value = next((v for k, v in headers if k.lower() == wanted), None)
        out[tag] = value.decode("latin-1") if value is not None else h.default


# -- server ---------------------------------------------------------------------------------


def start_server_span(
    tracer: MeshTracer,
    scope: MutableMapping[str, Any],
    inbound: InboundContext,
    *,
    service_host: str,
) -> Any:
    """Decide and, when sampled, start the server span; set ``inbound.trace`` (what
    outbound requests continue). Returns the span, or None when unsampled."""
    parent = parse_headers(inbound.headers) if inbound.headers else None
    if not tracer.decide(parent):
        inbound.continue_unsampled(parent)  # made when an outbound request reads it
        return None
    return start_sampled_server_span(tracer, scope, inbound, parent, service_host=service_host)


def start_sampled_server_span(
    tracer: MeshTracer,
    scope: MutableMapping[str, Any],
    inbound: InboundContext,
    parent: TraceContext | None,
    *,
    service_host: str,
) -> Any:
    """:func:`start_server_span` once the caller has read ``parent`` from the request and
    ``tracer.decide(parent)`` sampled it (the middleware's path: it decides inline)."""
    from ._otel import SERVER, context_of, parent_context

    server = scope.get("server") or (None, None)
    client = scope.get("client") or (None, None)
    headers: list[tuple[bytes, bytes]] = scope.get("headers") or []
    attrs: dict[str, Any] = dict(tracer.attributes)
    attrs["http.request.method"] = scope.get("method", "GET")
    attrs["url.path"] = scope.get("path", "")
    query = scope.get("query_string")
    if query:
        attrs["url.query"] = query.decode("latin-1")
    attrs["url.scheme"] = scope.get("scheme", "http")
    if server[1] is not None:
        attrs["server.port"] = server[1]
    for name, value in headers:
        if name == b"host":
            attrs["server.address"] = value.decode("latin-1").rpartition(":")[0] or value.decode(
                "latin-1"
            )
        elif name == _USER_AGENT:
            attrs["user_agent.original"] = value.decode("latin-1")
    if client[0] is not None:
        attrs["client.address"] = client[0]
        attrs["network.peer.address"] = client[0]
    if scope.get("http_version"):
        attrs["network.protocol.version"] = scope["http_version"]
    if inbound.request_id is not None:
        attrs["guid:x-request-id"] = inbound.request_id.decode("latin-1")
    attrs["upstream_cluster"] = f"inbound|{server[1] or ''}||"  # Envoy's inbound cluster
    if tracer.header_tags:
        _header_tags(tracer, headers, attrs)
    span = tracer.tracer().start_span(
        f"{service_host}:{server[1] or 80}/*",
        context=parent_context(parent, True),
        kind=SERVER,
        attributes=attrs,
    )
    inbound.trace = context_of(span, fmt=parent.format if parent is not None else W3C)
    return span


def end_server_span(span: Any, status: int, decision: Any = None) -> None:
    """End the server span with the response's status (a 5xx is an error, as the semantic
    conventions say of servers) and the AuthorizationPolicy ``decision``, if one was made
    (``ALLOW ns/name``, ``DENY ns/name``, ``-`` for no policy)."""
    attrs: dict[str, Any] = {"http.response.status_code": status, "response_flags": "-"}
    if decision is not None:
        attrs["inmesh.authorization"] = f"{decision.action} {decision.policy or '-'}"
    if status >= 500:
        from ._otel import error_status

        attrs["error.type"] = str(status)
        span.set_status(error_status())
    span.set_attributes(attrs)
    span.end()


# -- client ---------------------------------------------------------------------------------


def outbound_headers(
    raw: list[tuple[bytes, bytes]],
    inbound: InboundContext | None,
    tracer: MeshTracer | None,
) -> tuple[list[tuple[bytes, bytes]], ClientTrace | None]:
    """The headers an outbound request goes with, and its client trace when sampled.

    The request's own headers stay first and are never changed, with one exception that
    follows Envoy: when the mesh traces, a ``traceparent``/``b3`` the application set is the
    parent of the mesh's span and the trace headers are replaced by the span's (an Envoy
    sidecar rewrites them the same way). Added when absent: the inbound request's
    ``x-request-id``, its ``baggage`` and other propagation headers, and its trace context
    (forwarded unchanged when the mesh does not trace; continued when it does).
    """
    extra: list[tuple[bytes, bytes]] = []
    if inbound is None or not inbound.headers:
        # the common case, no propagation header came in: one loop for the request id and
        # the application's trace headers (no set comprehension: a Python call of its own)
        has_id = app_trace = False
        for name, _ in raw:
            lower = name.lower()
            if lower == _REQUEST_ID:
                has_id = True
            elif lower in TRACE_HEADERS:
                app_trace = True
        if inbound is not None and inbound.request_id is not None and not has_id:
            extra.append((_REQUEST_ID, inbound.request_id))
    else:
        present = {name.lower() for name, _ in raw}
        if inbound.request_id is not None and _REQUEST_ID not in present:
            extra.append((_REQUEST_ID, inbound.request_id))
        app_trace = not present.isdisjoint(TRACE_HEADERS)
        for name, value in inbound.headers:
            if name in present or (app_trace and name in TRACE_HEADERS):
                continue
            if tracer is not None and name in TRACE_HEADERS:
                continue  # replaced by the mesh's context below
            extra.append((name, value))
    if tracer is None:
        return ([*raw, *extra] if extra else raw), None
    base = raw
    parent: TraceContext | None
    if app_trace:
        lowered = [(k.lower(), v) for k, v in raw]
        parent = parse_headers(lowered)
        base = [h for h in raw if h[0].lower() not in TRACE_HEADERS]
    elif inbound is not None:
        # the server span's context; when the middleware did not trace (no Mesh, or
        # another's), the inbound request's own headers
        parent = inbound.trace
        if parent is None and inbound.headers:
            parent = parse_headers(inbound.headers)
    else:
        parent = None
    if extra:
        base = [*base, *extra]
    b3 = b3_of(parent)
    if not tracer.decide(parent):
        return [*base, *format_headers(_unsampled(parent), b3=b3)], None
    return base, ClientTrace(tracer, parent, b3)


class ClientTrace:
    """The client spans of one sampled outbound request: one per attempt."""

    __slots__ = ("_b3", "_ended", "_parent", "_span", "_tracer")

    def __init__(self, tracer: MeshTracer, parent: TraceContext | None, b3: str | None) -> None:
        self._tracer = tracer
        self._parent = parent
        self._b3 = b3
        self._span: Any = None
        self._ended = 0  # the open span's attempt ended at (ns), 0: still running

    def _attributes(self, call: Any) -> dict[str, Any]:
        request: httpx.Request = call.request
        view = call.view
        attrs: dict[str, Any] = dict(self._tracer.attributes)
        attrs["http.request.method"] = request.method
        url = request.url
        # no credentials in url.full (the semantic conventions' rule)
        attrs["url.full"] = str(
            url.copy_with(username=None, password=None) if url.userinfo else url
        )
        attrs["server.address"] = view.host
        attrs["server.port"] = view.port
        for name, value in call.headers:
            if name.lower() == _REQUEST_ID:
                attrs["guid:x-request-id"] = value.decode("latin-1")
                break
        cluster = call.cluster
        if cluster is not None:
            attrs["upstream_cluster"] = cluster.name
            if cluster.subset:
                attrs["inmesh.subset"] = cluster.subset
        else:
            from .._flags import PASSTHROUGH_CLUSTER

            attrs["upstream_cluster"] = PASSTHROUGH_CLUSTER
        if call.route is not None and call.route.name:
            attrs["inmesh.route"] = call.route.name
        if self._tracer.header_tags:
            _header_tags(self._tracer, call.headers, attrs)
        return attrs

    def _name(self, call: Any) -> str:
        cluster = call.cluster
        host = cluster.service.host if cluster is not None else call.view.host
        return f"{host}:{call.view.port}/*"  # Istio's trace operation

    def _start(self, call: Any, attrs: dict[str, Any] | None = None) -> Any:
        from ._otel import CLIENT, parent_context

        return self._tracer.tracer().start_span(
            self._name(call),
            context=parent_context(self._parent, True),
            kind=CLIENT,
            attributes=attrs if attrs is not None else self._attributes(call),
        )

    def attempt(self, call: Any, ex: Any) -> None:
        """Start the attempt's span and put its context on the attempt's headers."""
        from ._otel import context_of

        self._close()
        attrs = self._attributes(call)
        ep = ex.endpoint_key.rpartition(":")
        attrs["network.peer.address"] = ep[0]
        if ep[2].isdigit():
            attrs["network.peer.port"] = int(ep[2])
        if call.attempts > 1:
            attrs["http.request.resend_count"] = call.attempts - 1
        span = self._start(call, attrs)
        parent_id = self._parent.span_id if self._parent is not None else b""
        ctx = context_of(span, parent_span_id=parent_id)
        core = ex.core
        core.headers = [*core.headers, *format_headers(ctx, b3=self._b3)]
        self._span = span

    def attempt_over(self, outcome: int | LocalFailure) -> None:
        """The attempt ended without being the answer (retried, timed out, failed): its
        outcome is set now and its end time kept; the span ends when the next attempt
        starts or the request finishes (a last attempt also gets the request's flags)."""
        span = self._span
        if span is None or self._ended:
            return
        self._ended = time.time_ns()
        if isinstance(outcome, int):
            if outcome:
                _outcome(span, {}, outcome, "")
        else:
            from ..resilience import CLASSIFIER

            flags = {"response_flags": CLASSIFIER.local_reply(outcome).flag}
            _outcome(span, flags, None, outcome.value)

    def finish(self, call: Any, status: int, flags: str) -> None:
        """The request is over: the last attempt's span (or, when the mesh answered
        without sending anything, a span for its answer) gets the outcome."""
        span = self._span
        if span is None:
            if call.attempts:
                return
            span = self._span = self._start(call)
        attrs: dict[str, Any] = {"inmesh.attempts": call.attempts, "response_flags": flags or "-"}
        if self._ended:
            span.set_attributes(attrs)
        else:
            _outcome(span, attrs, status or None, "" if status else flags or "DC")
        self._close()

    def _close(self) -> None:
        span = self._span
        if span is None:
            return
        self._span = None
        ended, self._ended = self._ended, 0
        span.end(end_time=ended or None)


def _outcome(span: Any, attrs: dict[str, Any], status: int | None, error: str) -> None:
    """Set ``attrs``, the status code, and ``error.type`` for a failure (a client's 4xx
    and 5xx are errors, as the semantic conventions say), in one call."""
    if status is not None:
        attrs["http.response.status_code"] = status
        if status >= 400 and not error:
            error = str(status)
    if error:
        from ._otel import error_status

        attrs["error.type"] = error
        span.set_status(error_status())
    span.set_attributes(attrs)
