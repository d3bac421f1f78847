"""Tracing settings, the OTEL_* environment, and the sampler's decisions."""

from __future__ import annotations

import pytest

from inmesh import ConfigError
from inmesh.telemetry import (
    DEFAULT_SAMPLING,
    HeaderTag,
    MeshTracer,
    TraceContext,
    Tracing,
    tracer_for,
)

ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}


def tracer(settings: Tracing, **labels: str) -> MeshTracer:
    return MeshTracer(
        settings,
        service="reviews",
        namespace="bookinfo",
        labels={"app": "reviews", **labels},
        workload="reviews-v2",
    )


def ctx(low: int, sampled: bool | None = None) -> TraceContext:
    """A context whose trace id's lower 64 bits are ``low``."""
    return TraceContext(b"%032x" % ((7 << 64) | low), b"%016x" % 1, sampled)


def test_istio_default_is_one_percent() -> None:
    assert Tracing().sampling == DEFAULT_SAMPLING == 1.0


@pytest.mark.parametrize("bad", [-1, 100.5, "10", True])
def test_sampling_must_be_a_percentage(bad: object) -> None:
    with pytest.raises(ConfigError, match="percentage 0-100"):
        Tracing(sampling=bad)  # type: ignore[arg-type]


def test_custom_tags_must_be_strings_or_header_tags() -> None:
    with pytest.raises(ConfigError, match=r"custom_tags\['n'\]"):
        Tracing(custom_tags={"n": 3})  # type: ignore[dict-item]


def test_an_upstream_decision_is_honoured() -> None:
    never = tracer(Tracing(sampling=0))
    always = tracer(Tracing(sampling=100))
    assert never.decide(ctx(0, sampled=True))
    assert not always.decide(ctx(0, sampled=False))


def test_a_deferred_decision_uses_the_trace_id_ratio() -> None:
    half = tracer(Tracing(sampling=50))
    assert half.decide(ctx(1))  # lower 64 bits below half of 2**64
    assert not half.decide(ctx((1 << 64) - 1))
    # the same trace id decides the same way in every workload
    assert tracer(Tracing(sampling=50)).decide(ctx(1))


def test_new_traces_at_zero_and_hundred_percent() -> None:
    assert all(tracer(Tracing(sampling=100)).decide(None) for _ in range(100))
    assert not any(tracer(Tracing(sampling=0)).decide(None) for _ in range(100))


def test_not_parent_based_ignores_the_upstream_flag() -> None:
    t = tracer(Tracing(sampling=0, parent_based=False))
    assert not t.decide(ctx(0, sampled=True))


def test_istio_service_tags_and_literal_custom_tags() -> None:
    t = tracer(
        Tracing(custom_tags={"team": "books", "user": HeaderTag("x-user", "anon")}),
        version="v2",
    )
    assert t.attributes["istio.canonical_service"] == "reviews"
    assert t.attributes["istio.canonical_revision"] == "v2"
    assert t.attributes["istio.namespace"] == "bookinfo"
    assert t.attributes["istio.mesh_id"] == "unknown"
    assert t.attributes["node_id"] == "reviews-v2.bookinfo"
    assert t.attributes["team"] == "books"
    assert t.header_tags == {"user": HeaderTag("x-user", "anon")}
    # Istio's service cluster: <canonical service>.<namespace>
    assert t.service_name == "reviews.bookinfo"


def test_with_settings_keeps_the_provider_holder() -> None:
    t = tracer(Tracing(sampling=1))
    t2 = t.with_sampling(50)
    assert t2.settings.sampling == 50 and t.settings.sampling == 1
    assert t2._holder is t._holder
    t3 = t.with_settings(Tracing(provider=object()))
    assert t3._holder is not t._holder


def test_env_without_an_endpoint_is_not_configured() -> None:
    assert Tracing.from_env({}) is None
    assert Tracing.from_env({"OTEL_SERVICE_NAME": "x"}) is None


def test_env_with_an_endpoint() -> None:
    t = Tracing.from_env({**ENDPOINT, "OTEL_SERVICE_NAME": "pp"})
    assert t == Tracing(sampling=1.0, service_name="pp")
    only_traces = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}
    assert Tracing.from_env(only_traces) == Tracing()


@pytest.mark.parametrize(
    ("sampler", "arg", "sampling", "parent_based"),
    [
        ("always_on", None, 100.0, False),
        ("parentbased_always_on", None, 100.0, True),
        ("always_off", None, 0.0, False),
        ("parentbased_always_off", None, 0.0, True),
        ("traceidratio", "0.25", 25.0, False),
        ("parentbased_traceidratio", "0.1", 10.0, True),
        ("parentbased_traceidratio", None, 100.0, True),  # the spec's default ratio: 1.0
    ],
)
def test_env_sampler(sampler: str, arg: str | None, sampling: float, parent_based: bool) -> None:
    env = {**ENDPOINT, "OTEL_TRACES_SAMPLER": sampler}
    if arg is not None:
        env["OTEL_TRACES_SAMPLER_ARG"] = arg
    t = Tracing.from_env(env)
    assert t is not None
    assert t.sampling == pytest.approx(sampling) and t.parent_based is parent_based


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OTEL_TRACES_SAMPLER": "jaeger_remote"}, "OTEL_TRACES_SAMPLER='jaeger_remote'"),
        ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "x"}, "not a number"),
        ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, "between 0"),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER='zipkin'"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OTEL_EXPORTER_OTLP_PROTOCOL='grpc'"),
    ],
)
def test_env_refused_by_name(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Tracing.from_env({**ENDPOINT, **env})


def test_env_disabled() -> None:
    assert Tracing.from_env({**ENDPOINT, "OTEL_SDK_DISABLED": "true"}) is None
    assert Tracing.from_env({**ENDPOINT, "OTEL_TRACES_EXPORTER": "none"}) is None


def test_tracer_for(monkeypatch: pytest.MonkeyPatch) -> None:
    kw = {"service": "r", "namespace": "d", "labels": {}, "workload": "r"}
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert tracer_for(None, **kw) is None  # type: ignore[arg-type]
    assert tracer_for(False, **kw) is None  # type: ignore[arg-type]
    on = tracer_for(True, **kw)  # type: ignore[arg-type]
    assert on is not None and on.settings == Tracing()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    from_env = tracer_for(None, **kw)  # type: ignore[arg-type]
    assert from_env is not None and from_env.settings.sampling == 1.0
    given = tracer_for(Tracing(sampling=5), **kw)  # type: ignore[arg-type]
    assert given is not None and given.settings.sampling == 5


def test_new_ids_are_lower_hex_of_their_size_and_never_zero() -> None:
    import random
    import re
    from binascii import hexlify

    from inmesh.telemetry import _tracing

    # the bytes random.randbytes would give for the same bits
    fixed = random.Random(7)
    _tracing._RNG, saved = random.Random(7), _tracing._RNG
    try:
        assert _tracing.new_trace_id() == hexlify(fixed.randbytes(16))
        assert _tracing.new_span_id() == hexlify(fixed.randbytes(8))
    finally:
        _tracing._RNG = saved
    for _ in range(200):
        assert re.fullmatch(rb"[0-9a-f]{32}", _tracing.new_trace_id())
        assert re.fullmatch(rb"[0-9a-f]{16}", _tracing.new_span_id())
    # the all-zero id is invalid (W3C): drawn again
    draws = iter([0, 5])
    saved = _tracing._RNG
    try:
        _tracing._RNG = type("R", (), {"getrandbits": lambda self, k: next(draws)})()
        assert _tracing.new_span_id() == b"0500000000000000"
    finally:
        _tracing._RNG = saved
