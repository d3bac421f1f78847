"""The OpenTelemetry side of tracing, loaded on the first sampled span only.

The provider: the one given in ``Tracing(provider=...)``; else the application's global
provider when it set one (``opentelemetry.trace.set_tracer_provider``); else an SDK
``TracerProvider`` per ``service.name`` with a ``BatchSpanProcessor`` and the OTLP/HTTP
exporter, which reads ``OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT``, ``..._HEADERS``,
``..._TIMEOUT`` and ``..._COMPRESSION`` itself. The SDK provider samples everything it is
given (``ALWAYS_ON``): the mesh has already decided (``MeshTracer.decide``).
"""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.span import TraceState

from ._propagation import TraceContext

__all__ = ["CLIENT", "SERVER", "context_of", "parent_context", "resolve_provider"]

SERVER = SpanKind.SERVER
CLIENT = SpanKind.CLIENT
_EMPTY = Context()
_providers: dict[str, Any] = {}
_lock = threading.Lock()


def resolve_provider(provider: Any, service_name: str) -> Any:
    """The provider spans go to (see the module docstring)."""
    if provider is not None:
        return provider
    current = trace.get_tracer_provider()
    if not isinstance(current, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
        return current  # the application configured OpenTelemetry itself
    with _lock:
        found = _providers.get(service_name)
        if found is None:
            found = _providers[service_name] = _otlp_provider(service_name)
        return found


def _otlp_provider(service_name: str) -> Any:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON

    # Resource.create adds OTEL_RESOURCE_ATTRIBUTES; the service name given here wins
    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name}), sampler=ALWAYS_ON
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def parent_context(parent: TraceContext | None, sampled: bool) -> Context:
    """An OpenTelemetry context whose span is ``parent`` (remote), or an empty one (a new
    trace): never the application's own current span, which the mesh cannot see."""
    if parent is None or not parent.has_ids:
        return _EMPTY
    state = (
        TraceState.from_header([parent.tracestate.decode("latin-1")]) if parent.tracestate else None
    )
    sc = SpanContext(
        int(parent.trace_id, 16),
        int(parent.span_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT),
        trace_state=state,
    )
    return trace.set_span_in_context(NonRecordingSpan(sc), _EMPTY)


def context_of(span: Any, *, parent_span_id: bytes = b"", fmt: str = "w3c") -> TraceContext:
    """The wire context of ``span`` (what the next hop gets)."""
    sc = span.get_span_context()
    state = sc.trace_state.to_header().encode("latin-1") if sc.trace_state else b""
    return TraceContext(
        b"%032x" % sc.trace_id,
        b"%016x" % sc.span_id,
        sc.trace_flags.sampled,
        state,
        parent_span_id=parent_span_id,
        format=fmt,
    )


def error_status(description: str | None = None) -> Any:
    from opentelemetry.trace import Status, StatusCode

    return Status(StatusCode.ERROR, description)
