"""Trace context on the wire: W3C Trace Context, B3 (single and multi) and ``baggage``.

Pure parsing and formatting, no OpenTelemetry import, so that propagation costs nothing
when tracing is off. Read (first match wins): W3C ``traceparent`` (with ``tracestate``),
then B3 single ``b3``, then B3 multi ``x-b3-*``. Invalid input is ignored as the specs say
(a malformed ``traceparent`` is as if absent; the next format is tried). Written: W3C
``traceparent`` (and ``tracestate``), as Envoy's OpenTelemetry tracer (the one Istio's
``opentelemetry`` provider configures, and what inmesh exports to) injects them
(``Span::injectContext`` in source/extensions/tracers/opentelemetry); when the trace came
in as B3, B3 too, in the form it came (multi; single adds ``b3``), so that a chain of
Zipkin-instrumented services keeps its trace (Istio's Zipkin provider writes B3 multi; its
``USE_B3_WITH_W3C_PROPAGATION`` writes both, and is not its default).

Rules followed: W3C Trace Context level 1 (``version-traceid-parentid-flags``, lower-case
hex, all-zero ids invalid, version ``ff`` invalid, a higher version may append fields);
openzipkin/b3-propagation (64- or 128-bit trace ids, a 64-bit one is left-padded to 128
bits as OpenTelemetry's B3 propagator does; sampling ``1``, ``0`` or ``d``, debug meaning
sampled; ``x-b3-flags: 1`` is debug; a sampling state alone is a decision without ids).
"""

from __future__ import annotations

import contextvars
import re
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from ..inbound._peer import Peer

__all__ = [
    "B3_MULTI",
    "B3_SINGLE",
    "PROPAGATION_HEADERS",
    "TRACE_HEADERS",
    "W3C",
    "InboundContext",
    "MeshHeader",
    "TraceContext",
    "b3_of",
    "current_inbound",
    "format_headers",
    "parse_headers",
]

W3C = "w3c"
B3_SINGLE = "b3"
B3_MULTI = "b3multi"

_TRACEPARENT = b"traceparent"
_TRACESTATE = b"tracestate"
_B3 = b"b3"
_B3_TRACE = b"x-b3-traceid"
_B3_SPAN = b"x-b3-spanid"
_B3_PARENT = b"x-b3-parentspanid"
_B3_SAMPLED = b"x-b3-sampled"
_B3_FLAGS = b"x-b3-flags"
_BAGGAGE = b"baggage"
_REQUEST_ID = b"x-request-id"

#: the headers that carry a trace's identity (replaced as one group when the mesh traces)
TRACE_HEADERS = frozenset(
    {_TRACEPARENT, _TRACESTATE, _B3, _B3_TRACE, _B3_SPAN, _B3_PARENT, _B3_SAMPLED, _B3_FLAGS}
)
#: every header the mesh carries from an inbound request to the outbound ones it causes:
#: Istio's list of headers an application must forward (its distributed-tracing docs),
#: which inmesh forwards in-process: the trace headers, ``baggage``, ``x-request-id`` and
#: ``x-ot-span-context`` (Lightstep's, forwarded unchanged)
PROPAGATION_HEADERS = TRACE_HEADERS | {_BAGGAGE, _REQUEST_ID, b"x-ot-span-context"}

_TRACEPARENT_RE = re.compile(rb"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_B3_ID_RE = re.compile(rb"[0-9a-fA-F]{16}|[0-9a-fA-F]{32}")
_B3_SPAN_RE = re.compile(rb"[0-9a-fA-F]{16}")
_ZERO_TRACE = b"0" * 32
_ZERO_SPAN = b"0" * 16
_PAD64 = b"0" * 16


class MeshHeader(tuple[bytes, bytes]):
    """A ``(name, value)`` header the mesh formatted itself from parts it checked: a
    lower-case name and a value of ASCII letters, digits and dashes. Equal to the plain
    tuple; the outbound path hands it to h11 without h11's per-header pattern checks
    (``outbound/_wire.py``), which cost more than the mesh's own work on every request."""

    __slots__ = ()


class TraceContext(NamedTuple):
    """A span's identity as propagated: ``trace_id`` (32 lower-case hex digits) and
    ``span_id`` (16), kept as the bytes they travel as (both empty for a sampling decision
    without ids), ``sampled`` (None: the caller deferred the decision), the raw W3C
    ``tracestate`` (empty when none), B3's parent span id, and the format it came in.
    A named tuple: built on every traced request, where a frozen dataclass costs ~2 us."""

    trace_id: bytes
    span_id: bytes
    sampled: bool | None
    tracestate: bytes = b""
    parent_span_id: bytes = b""
    format: str = W3C

    @property
    def has_ids(self) -> bool:
        return bool(self.trace_id)


class InboundContext:
    """What an outbound request inherits from the inbound request being handled (held in
    a contextvar by ``MeshMiddleware``): its ``x-request-id``, the propagation headers as
    they came in (forwarded unchanged when the mesh does not trace; ``baggage`` always),
    and, when it traces, the context to continue (the server span's, or the unsampled one
    that stands for it).

    The unsampled context is made when first read (:meth:`continue_unsampled`): most
    requests make no outbound request, and its fresh span id costs ~1 us."""

    __slots__ = ("_parent", "_pending", "_trace", "headers", "peer", "request_id")

    def __init__(
        self,
        request_id: bytes | None,
        headers: list[tuple[bytes, bytes]],
        trace: TraceContext | None = None,
        peer: Peer | None = None,
    ) -> None:
        self.request_id = request_id
        self.headers = headers
        self._trace = trace
        self._pending = False
        self._parent: TraceContext | None = None
        #: the request's verified peer (``inmesh.current_peer()`` reads it here: one
        #: contextvar for both)
        self.peer = peer

    @property
    def trace(self) -> TraceContext | None:
        if self._pending:
            from ._spans import _unsampled

            self._trace = _unsampled(self._parent)
            self._pending = False
            self._parent = None
        return self._trace

    @trace.setter
    def trace(self, value: TraceContext | None) -> None:
        self._trace = value
        self._pending = False
        self._parent = None

    def continue_unsampled(self, parent: TraceContext | None) -> None:
        """The trace continues unsampled from ``parent`` (None: a new trace): ``trace``
        becomes ``_unsampled(parent)`` (the same one for every read) when first read."""
        self._parent = parent
        self._pending = True

    def __repr__(self) -> str:
        return (
            f"InboundContext(request_id={self.request_id!r}, headers={self.headers!r}, "
            f"trace={self.trace!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, InboundContext):
            return NotImplemented
        return (self.request_id, self.headers, self.trace) == (
            other.request_id,
            other.headers,
            other.trace,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass it was


_inbound: contextvars.ContextVar[InboundContext | None] = contextvars.ContextVar(
    "inmesh_inbound", default=None
)


def current_inbound() -> InboundContext | None:
    """The inbound request this code runs for (set by ``MeshMiddleware``), or None."""
    return _inbound.get()


_new_context = tuple.__new__
_new_pair = tuple.__new__
#: the flags' low digit with the sampled bit (bit 0) set: lower-case hex, as the regex allows
_ODD_HEX = frozenset(b"13579bdf")
_DASH = ord("-")
_LOWER_HEX = b"0123456789abcdef"


def parse_traceparent(value: bytes, tracestate: bytes = b"") -> TraceContext | None:
    """W3C ``traceparent``: ``00-<32 hex>-<16 hex>-<2 hex>``; None when invalid."""
    value = value.strip()
    if (
        len(value) == 55
        and value[:3] == b"00-"
        and value[35] == _DASH
        and value[52] == _DASH
        and value.translate(None, _LOWER_HEX) == b"---"
    ):
        # version 00's 55 bytes (nearly every request): with the dashes where they belong
        # and only lower-case hex elsewhere, the regex below would match the same groups;
        # this costs half as much (~0.4 us a request)
        trace_id = value[3:35]
        span_id = value[36:52]
        if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
            return None
        return _new_context(
            TraceContext, (trace_id, span_id, value[54] in _ODD_HEX, tracestate, b"", W3C)
        )
    m = _TRACEPARENT_RE.fullmatch(value)
    if m is None:
        return None
    version, trace_id, span_id, flags, rest = m.groups()
    if version == b"ff" or (version == b"00" and rest is not None):
        return None
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    # tuple.__new__: a third of the named tuple's keyword constructor, once per request
    return _new_context(
        TraceContext, (trace_id, span_id, flags[1] in _ODD_HEX, tracestate, b"", W3C)
    )


def _b3_trace_id(value: bytes) -> bytes | None:
    if _B3_ID_RE.fullmatch(value) is None:
        return None
    value = value.lower()
    if len(value) == 16:
        value = _PAD64 + value  # 64-bit: left-padded, as OpenTelemetry's B3 propagator
    return None if value == _ZERO_TRACE else value


def _b3_span_id(value: bytes) -> bytes | None:
    if _B3_SPAN_RE.fullmatch(value) is None:
        return None
    value = value.lower()
    return None if value == _ZERO_SPAN else value


def _b3_sampled(value: bytes) -> bool | None:
    if value in (b"1", b"d", b"true"):  # "true": the legacy value B3 readers accept
        return True
    if value in (b"0", b"false"):
        return False
    return None


def parse_b3_single(value: bytes) -> TraceContext | None:
    """B3 single: ``{trace}-{span}[-{sampling}[-{parent}]]`` or a bare ``{sampling}``."""
    parts = value.strip().split(b"-")
    if len(parts) == 1:
        decision = _b3_sampled(parts[0])
        return None if decision is None else TraceContext(b"", b"", decision, format=B3_SINGLE)
    if len(parts) > 4:
        return None
    trace_id = _b3_trace_id(parts[0])
    span_id = _b3_span_id(parts[1])
    if trace_id is None or span_id is None:
        return None
    sampled: bool | None = None
    if len(parts) >= 3:
        sampled = _b3_sampled(parts[2])
        if sampled is None:
            return None
    parent = b""
    if len(parts) == 4:
        p = _b3_span_id(parts[3])
        if p is None:
            return None
        parent = p
    return TraceContext(trace_id, span_id, sampled, parent_span_id=parent, format=B3_SINGLE)


def parse_b3_multi(found: dict[bytes, bytes]) -> TraceContext | None:
    """B3 multi (``x-b3-traceid``, ``x-b3-spanid``, ``x-b3-sampled``, ``x-b3-flags``)."""
    sampled = _b3_sampled(found.get(_B3_SAMPLED, b"").strip())
    if found.get(_B3_FLAGS, b"").strip() == b"1":
        sampled = True  # debug implies an accept decision
    trace = found.get(_B3_TRACE)
    span = found.get(_B3_SPAN)
    trace_id = _b3_trace_id(trace.strip()) if trace is not None else None
    span_id = _b3_span_id(span.strip()) if span is not None else None
    if trace_id is None or span_id is None:
        return None if sampled is None else TraceContext(b"", b"", sampled, format=B3_MULTI)
    parent = _b3_span_id(found.get(_B3_PARENT, b"").strip()) or b""
    return TraceContext(trace_id, span_id, sampled, parent_span_id=parent, format=B3_MULTI)


def parse_headers(headers: list[tuple[bytes, bytes]]) -> TraceContext | None:
    """The trace context in ``headers`` (lower-case names, as ASGI gives them): W3C first,
    then B3 single, then B3 multi; None when there is none valid. Repeated headers are
    joined with ``,`` (W3C ``tracestate``); a repeated ``traceparent`` is invalid."""
    found: dict[bytes, bytes] = {}
    for name, value in headers:
        if name in TRACE_HEADERS:
            if name in found:
                if name != _TRACESTATE:
                    found[name] = b""  # two values of a single-valued header: invalid
                    continue
                value = found[name] + b"," + value
            found[name] = value
    if not found:
        return None
    tp = found.get(_TRACEPARENT)
    if tp:
        ctx = parse_traceparent(tp, found.get(_TRACESTATE, b""))
        if ctx is not None:
            return ctx
    b3 = found.get(_B3)
    if b3:
        ctx = parse_b3_single(b3)
        if ctx is not None:
            return ctx
    return parse_b3_multi(found)


def format_headers(ctx: TraceContext, *, b3: str | None = None) -> list[tuple[bytes, bytes]]:
    """The headers that carry ``ctx`` to the next hop: W3C ``traceparent`` (and
    ``tracestate`` when there is one); with ``b3`` (the format the trace came in:
    :data:`B3_MULTI` or :data:`B3_SINGLE`) B3 multi too, and B3 single for the latter."""
    trace = ctx.trace_id
    span = ctx.span_id
    parent = ctx.parent_span_id
    # ids that are letters and digits only (parsed as hex, or made here) cannot break a
    # header: MeshHeader; anything else (a context built by hand) goes through h11's checks
    kind: type[tuple[bytes, bytes]] = (
        MeshHeader
        if trace.isalnum() and span.isalnum() and (not parent or parent.isalnum())
        else tuple
    )
    out = [
        _new_pair(
            kind, (_TRACEPARENT, b"00-" + trace + b"-" + span + (b"-01" if ctx.sampled else b"-00"))
        )
    ]
    if ctx.tracestate:
        out.append((_TRACESTATE, ctx.tracestate))  # as it came in: h11 checks it
    if b3 is None:
        return out
    sampled = b"1" if ctx.sampled else b"0"
    out.append(_new_pair(kind, (_B3_TRACE, trace)))
    out.append(_new_pair(kind, (_B3_SPAN, span)))
    if parent:
        out.append(_new_pair(kind, (_B3_PARENT, parent)))
    out.append(_new_pair(kind, (_B3_SAMPLED, sampled)))
    if b3 == B3_SINGLE:
        single = trace + b"-" + span + b"-" + sampled
        out.append(_new_pair(kind, (_B3, single + b"-" + parent if parent else single)))
    return out


def b3_of(parent: TraceContext | None) -> str | None:
    """The B3 form an outbound request continues ``parent``'s trace in (None: W3C only)."""
    if parent is None or parent.format == W3C:
        return None
    return parent.format


def low64(trace_id: bytes) -> int:
    """The trace id's lower 64 bits (what ratio sampling compares, as OpenTelemetry)."""
    return int(trace_id[16:], 16)
