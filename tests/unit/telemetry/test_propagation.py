"""Trace headers on the wire: W3C Trace Context, B3 single and multi, invalid input."""

from __future__ import annotations

import pytest

from inmesh.telemetry._propagation import (
    B3_MULTI,
    B3_SINGLE,
    W3C,
    TraceContext,
    b3_of,
    format_headers,
    parse_b3_single,
    parse_headers,
    parse_traceparent,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
TP = f"00-{TRACE}-{SPAN}-01".encode()
T = TRACE.encode()
S = SPAN.encode()


def test_w3c_traceparent_and_tracestate() -> None:
    ctx = parse_headers([(b"traceparent", TP), (b"tracestate", b"congo=t61rcWkgMzE")])
    assert ctx == TraceContext(T, S, True, b"congo=t61rcWkgMzE", format=W3C)


def test_w3c_unsampled_flags() -> None:
    ctx = parse_traceparent(f"00-{TRACE}-{SPAN}-00".encode())
    assert ctx is not None and ctx.sampled is False


def test_repeated_tracestate_is_joined() -> None:
    ctx = parse_headers([(b"traceparent", TP), (b"tracestate", b"a=1"), (b"tracestate", b"b=2")])
    assert ctx is not None and ctx.tracestate == b"a=1,b=2"


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"garbage",
        f"00-{TRACE.upper()}-{SPAN}-01".encode(),  # upper-case hex is invalid
        f"00-{'0' * 32}-{SPAN}-01".encode(),  # all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01".encode(),  # all-zero parent id
        f"ff-{TRACE}-{SPAN}-01".encode(),  # version ff
        f"00-{TRACE}-{SPAN}-01-extra".encode(),  # version 00 has exactly four fields
        f"00-{TRACE}-{SPAN}-zz".encode(),
        f"00_{TRACE}-{SPAN}-01".encode(),
    ],
)
def test_invalid_traceparent_is_ignored(value: bytes) -> None:
    assert parse_traceparent(value) is None
    assert parse_headers([(b"traceparent", value)]) is None


def test_a_later_version_may_append_fields() -> None:
    ctx = parse_traceparent(f"01-{TRACE}-{SPAN}-01-what-ever".encode())
    assert ctx is not None and ctx.trace_id == T


def test_two_traceparents_are_invalid_and_the_next_format_is_tried() -> None:
    headers = [(b"traceparent", TP), (b"traceparent", TP), (b"b3", f"{TRACE}-{SPAN}-0".encode())]
    ctx = parse_headers(headers)
    assert ctx is not None and ctx.format == B3_SINGLE and ctx.sampled is False


def test_invalid_w3c_falls_back_to_b3_multi() -> None:
    ctx = parse_headers(
        [
            (b"traceparent", b"nonsense"),
            (b"x-b3-traceid", TRACE.encode()),
            (b"x-b3-spanid", SPAN.encode()),
            (b"x-b3-sampled", b"1"),
        ]
    )
    assert ctx == TraceContext(T, S, True, format=B3_MULTI)


def test_w3c_wins_over_b3() -> None:
    other = "1" * 32
    ctx = parse_headers([(b"b3", f"{other}-{SPAN}-1".encode()), (b"traceparent", TP)])
    assert ctx is not None and ctx.format == W3C and ctx.trace_id == T


def test_b3_single_forms() -> None:
    full = parse_b3_single(f"{TRACE}-{SPAN}-1-{'05e3ac9a4f6e3b90'}".encode())
    assert full == TraceContext(T, S, True, parent_span_id=b"05e3ac9a4f6e3b90", format=B3_SINGLE)
    deferred = parse_b3_single(f"{TRACE}-{SPAN}".encode())
    assert deferred is not None and deferred.sampled is None
    debug = parse_b3_single(f"{TRACE}-{SPAN}-d".encode())
    assert debug is not None and debug.sampled is True
    deny = parse_b3_single(b"0")  # a decision without ids
    assert deny == TraceContext(b"", b"", False, format=B3_SINGLE) and not deny.has_ids


def test_b3_ids_are_lower_cased() -> None:
    ctx = parse_b3_single(f"{TRACE.upper()}-{SPAN.upper()}".encode())
    assert ctx is not None and (ctx.trace_id, ctx.span_id) == (T, S)


def test_b3_64_bit_trace_id_is_padded() -> None:
    ctx = parse_b3_single(f"a3ce929d0e0e4736-{SPAN}-1".encode())
    assert ctx is not None
    assert ctx.trace_id == b"0000000000000000a3ce929d0e0e4736"


@pytest.mark.parametrize(
    "value",
    [
        b"x",
        f"{TRACE}-short".encode(),
        f"{TRACE}-{SPAN}-2".encode(),
        f"{TRACE[:30]}-{SPAN}".encode(),
    ],
)
def test_invalid_b3_single_is_ignored(value: bytes) -> None:
    assert parse_b3_single(value) is None
    assert parse_headers([(b"b3", value)]) is None


def test_b3_multi() -> None:
    ctx = parse_headers(
        [
            (b"x-b3-traceid", TRACE.encode()),
            (b"x-b3-spanid", SPAN.encode()),
            (b"x-b3-parentspanid", b"05e3ac9a4f6e3b90"),
            (b"x-b3-sampled", b"0"),
        ]
    )
    assert ctx == TraceContext(T, S, False, parent_span_id=b"05e3ac9a4f6e3b90", format=B3_MULTI)


def test_b3_flags_debug_means_sampled() -> None:
    ctx = parse_headers(
        [(b"x-b3-traceid", TRACE.encode()), (b"x-b3-spanid", SPAN.encode()), (b"x-b3-flags", b"1")]
    )
    assert ctx is not None and ctx.sampled is True


def test_b3_multi_with_bad_ids_keeps_only_the_decision() -> None:
    ctx = parse_headers([(b"x-b3-traceid", b"xyz"), (b"x-b3-spanid", SPAN.encode())])
    assert ctx is None
    decision = parse_headers([(b"x-b3-traceid", b"xyz"), (b"x-b3-sampled", b"1")])
    assert decision == TraceContext(b"", b"", True, format=B3_MULTI)


def test_no_trace_headers() -> None:
    assert parse_headers([(b"host", b"x"), (b"baggage", b"k=v")]) is None


def test_format_writes_w3c_alone_for_a_w3c_or_new_trace() -> None:
    """Envoy's OpenTelemetry tracer injects traceparent and tracestate, nothing else."""
    ctx = TraceContext(T, S, True, b"k=v", parent_span_id=b"0000000000000005")
    assert dict(format_headers(ctx)) == {b"traceparent": TP, b"tracestate": b"k=v"}
    assert b3_of(None) is None and b3_of(ctx) is None


def test_format_adds_b3_multi_for_a_trace_that_came_in_b3() -> None:
    ctx = TraceContext(T, S, True, b"k=v", parent_span_id=b"0000000000000005", format=B3_MULTI)
    assert b3_of(ctx) == B3_MULTI
    out = dict(format_headers(ctx, b3=b3_of(ctx)))
    assert out == {
        b"traceparent": TP,
        b"tracestate": b"k=v",
        b"x-b3-traceid": TRACE.encode(),
        b"x-b3-spanid": SPAN.encode(),
        b"x-b3-parentspanid": b"0000000000000005",
        b"x-b3-sampled": b"1",
    }


def test_format_round_trips_each_format() -> None:
    ctx = TraceContext(T, S, False)
    out = format_headers(ctx, b3=B3_SINGLE)
    assert parse_traceparent(dict(out)[b"traceparent"]) == ctx
    single = parse_b3_single(dict(out)[b"b3"])
    assert single is not None and (single.trace_id, single.span_id, single.sampled) == (
        ctx.trace_id,
        ctx.span_id,
        False,
    )
    multi = parse_headers([h for h in out if h[0].startswith(b"x-b3-")])
    assert multi is not None and (multi.trace_id, multi.span_id, multi.sampled) == (
        ctx.trace_id,
        ctx.span_id,
        False,
    )


def test_an_unsampled_inbound_context_is_made_once_when_first_read() -> None:
    from inmesh.telemetry._propagation import InboundContext

    parent = TraceContext(T, S, False, b"k=v", format=W3C)
    inbound = InboundContext(b"id", [(b"traceparent", TP)])
    inbound.continue_unsampled(parent)
    first = inbound.trace
    assert first is not None and first is inbound.trace  # one span id for every reader
    assert (first.trace_id, first.parent_span_id, first.sampled) == (T, S, False)
    assert first.span_id not in (S, b"") and first.tracestate == b"k=v"
    fresh = InboundContext(None, [])
    fresh.continue_unsampled(None)  # a new trace
    assert fresh.trace is not None and fresh.trace.trace_id not in (T, b"")
    assert fresh.trace.sampled is False


def test_an_inbound_context_set_after_a_pending_one_wins() -> None:
    from inmesh.telemetry._propagation import InboundContext

    inbound = InboundContext(b"id", [])
    inbound.continue_unsampled(None)
    chosen = TraceContext(T, S, True)
    inbound.trace = chosen
    assert inbound.trace is chosen
    assert InboundContext(b"id", [], chosen) == InboundContext(b"id", [], chosen)
    assert "request_id=b'id'" in repr(inbound)


def _by_regex(value: bytes, tracestate: bytes = b"") -> TraceContext | None:
    """``parse_traceparent`` as it was before its 55-byte fast path: the regex alone."""
    from inmesh.telemetry._propagation import _TRACEPARENT_RE

    m = _TRACEPARENT_RE.fullmatch(value.strip())
    if m is None:
        return None
    version, trace_id, span_id, flags, rest = m.groups()
    if version == b"ff" or (version == b"00" and rest is not None):
        return None
    if trace_id == b"0" * 32 or span_id == b"0" * 16:
        return None
    sampled = flags[1:] in (b"1", b"3", b"5", b"7", b"9", b"b", b"d", b"f")
    return TraceContext(trace_id, span_id, sampled, tracestate, b"", W3C)


def _variants() -> list[bytes]:
    """Version 00's 55 bytes, then every byte replaced by characters the fast path must
    refuse or accept exactly as the regex does, zero ids, other lengths and versions."""
    out = [TP, f"00-{TRACE}-{SPAN}-00".encode(), b" " + TP + b" ", TP + b"-x", TP[:-1]]
    out += [f"00-{'0' * 32}-{SPAN}-01".encode(), f"00-{TRACE}-{'0' * 16}-01".encode()]
    out += [b"ff" + TP[2:], b"01" + TP[2:], b"01" + TP[2:] + b"-more"]
    for i in range(len(TP)):
        for c in b"-0aAfgF \x00\xff":
            out.append(TP[:i] + bytes([c]) + TP[i + 1 :])
    for flags in (b"00", b"01", b"02", b"03", b"0f", b"ff", b"1e", b"0b"):
        out.append(TP[:-2] + flags)
    return out


def test_traceparent_fast_path_decides_as_the_regex() -> None:
    for value in _variants():
        assert parse_traceparent(value, b"s=1") == _by_regex(value, b"s=1"), value
