"""Tracing settings and the live tracer one workload uses: sampling, tags, provider.

``Tracing`` is what a user (``Mesh(tracing=...)``), the environment (``OTEL_*``) or the
Telemetry API configures; ``MeshTracer`` is the object on ``MeshState.tracing`` that the
middleware and the transport read per request, replaced whole (one assignment) when the
settings change. Nothing here imports the OpenTelemetry SDK: the provider is resolved on
the first sampled span (``_otel.py``).

Sampling is Istio's: ``sampling`` is ``randomSamplingPercentage`` (0-100, default 1, as
``PILOT_TRACE_SAMPLING``), and an upstream decision (``traceparent`` flags, ``x-b3-sampled``)
is honoured (Envoy's tracing: a sampled parent keeps the trace sampled). The random draw
is on the trace id's lower 64 bits (OpenTelemetry's ``TraceIdRatioBased``), so every
workload that must decide for one trace decides the same way.
"""

from __future__ import annotations

import os
import random
import threading
from binascii import hexlify
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from .._errors import ConfigError
from ._labels import canonical_revision, canonical_service
from ._propagation import TraceContext, low64

__all__ = ["DEFAULT_SAMPLING", "HeaderTag", "MeshTracer", "Tracing", "tracer_for"]

#: Istio's default trace sampling percentage (``PILOT_TRACE_SAMPLING``)
DEFAULT_SAMPLING = 1.0
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_RNG = random.Random()
_TWO64 = 1 << 64
_ZERO_TRACE = b"0" * 32
_ZERO_SPAN = b"0" * 16


@dataclass(frozen=True, slots=True)
class HeaderTag:
    """A span tag read from a request header (the Telemetry API's ``customTags.header``):
    ``default`` when the request has none."""

    name: str
    default: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Tracing:
    """What to trace and where to send it.

    - ``sampling``: percentage of new traces sampled, 0-100 (Istio's
      ``randomSamplingPercentage``; default 1);
    - ``parent_based``: honour the caller's sampling decision (Istio's behaviour; False
      only for ``OTEL_TRACES_SAMPLER=traceidratio``/``always_on``/``always_off``);
    - ``custom_tags``: span tags, a literal string or a :class:`HeaderTag` (the Telemetry
      API's ``literal`` and ``header``; its ``environment`` is a literal read by the caller);
    - ``provider``: an OpenTelemetry ``TracerProvider``; None: the application's global
      one if it set one, else an SDK provider exporting OTLP over HTTP as ``OTEL_*`` say;
    - ``service_name``: the spans' ``service.name`` (default ``$OTEL_SERVICE_NAME``, else
      Istio's service cluster ``<canonical service>.<namespace>``).
    """

    sampling: float = DEFAULT_SAMPLING
    parent_based: bool = True
    custom_tags: Mapping[str, str | HeaderTag] = field(default_factory=lambda: _EMPTY)
    provider: Any = None
    service_name: str | None = None

    def __post_init__(self) -> None:
        s = self.sampling
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0.0 <= s <= 100.0:
            raise ConfigError(f"tracing sampling must be a percentage 0-100, not {s!r}")
        for tag, value in self.custom_tags.items():
            if not isinstance(value, (str, HeaderTag)):
                raise ConfigError(
                    f"tracing custom_tags[{tag!r}] must be a string or a HeaderTag, "
                    f"not {type(value).__name__}"
                )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Tracing | None:
        """The tracing the standard ``OTEL_*`` variables ask for, or None (not configured).

        Configured when ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or
        ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, unless ``OTEL_SDK_DISABLED=true`` or
        ``OTEL_TRACES_EXPORTER=none``. ``OTEL_TRACES_SAMPLER`` (with
        ``OTEL_TRACES_SAMPLER_ARG``) sets the sampling; unset, Istio's 1%.
        """
        env = os.environ if environ is None else environ
        if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            return None
        exporter = env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
        if exporter == "none":
            return None
        if not (
            env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        ):
            return None
        if exporter != "otlp":
            raise ConfigError(
                f"OTEL_TRACES_EXPORTER={exporter!r} is not supported yet (otlp or none)"
            )
        protocol = (
            env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            or "http/protobuf"
        )
        if protocol.strip() != "http/protobuf":
            raise ConfigError(
                f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported yet "
                "(http/protobuf: OTLP over HTTP)"
            )
        sampling, parent_based = _sampler(env)
        return cls(
            sampling=sampling,
            parent_based=parent_based,
            service_name=env.get("OTEL_SERVICE_NAME") or None,
        )


def _sampler(env: Mapping[str, str]) -> tuple[float, bool]:
    """``OTEL_TRACES_SAMPLER`` as a percentage and whether the parent's decision counts."""
    name = env.get("OTEL_TRACES_SAMPLER", "").strip().lower()
    if not name:
        return DEFAULT_SAMPLING, True
    if name in ("always_on", "parentbased_always_on"):
        return 100.0, name.startswith("parentbased")
    if name in ("always_off", "parentbased_always_off"):
        return 0.0, name.startswith("parentbased")
    if name in ("traceidratio", "parentbased_traceidratio"):
        arg = env.get("OTEL_TRACES_SAMPLER_ARG", "1.0")  # the OpenTelemetry spec's default
        try:
            ratio = float(arg)
        except ValueError:
            raise ConfigError(f"OTEL_TRACES_SAMPLER_ARG={arg!r} is not a number") from None
        if not 0.0 <= ratio <= 1.0:
            raise ConfigError(f"OTEL_TRACES_SAMPLER_ARG={arg!r} must be between 0 and 1")
        return ratio * 100.0, name.startswith("parentbased")
    raise ConfigError(f"OTEL_TRACES_SAMPLER={name!r} is not supported yet")


class MeshTracer:
    """One workload's tracing as requests read it (``MeshState.tracing``).

    ``attributes`` are the tags on every span: Istio's service tags (``istio.*`` as
    ``buildServiceTags`` in ``pilot/pkg/networking/core/tracing.go``), ``node_id`` and the
    literal custom tags. Replace it with :meth:`with_settings` (the provider is kept).
    """

    __slots__ = (
        "_bound",
        "_holder",
        "_identity",
        "attributes",
        "header_tags",
        "service_name",
        "settings",
    )

    def __init__(
        self,
        settings: Tracing,
        *,
        service: str,
        namespace: str,
        labels: Mapping[str, str],
        workload: str,
        _holder: _ProviderHolder | None = None,
    ) -> None:
        self.settings = settings
        # ratio sampling: sampled when the trace id's lower 64 bits are below the bound
        self._bound = round(settings.sampling / 100.0 * _TWO64)
        canon = canonical_service(labels, workload)
        self.service_name = settings.service_name or f"{canon}.{namespace}"
        attributes: dict[str, str] = {
            "istio.canonical_service": canon,
            "istio.canonical_revision": canonical_revision(labels),
            "istio.namespace": namespace,
            "istio.mesh_id": "unknown",  # Istio writes unknown without a mesh id
            "istio.cluster_id": "unknown",
            "node_id": f"{workload}.{namespace}",
        }
        header_tags: dict[str, HeaderTag] = {}
        for tag, value in settings.custom_tags.items():
            if isinstance(value, HeaderTag):
                header_tags[tag] = value
            else:
                attributes[tag] = value
        self.attributes: Mapping[str, str] = MappingProxyType(attributes)
        self.header_tags: Mapping[str, HeaderTag] = MappingProxyType(header_tags)
        self._holder = _holder if _holder is not None else _ProviderHolder(settings.provider)
        self._identity = (service, namespace, dict(labels), workload)

    def with_settings(self, settings: Tracing) -> MeshTracer:
        """A tracer for new settings (the Telemetry API's), keeping the resolved provider
        when ``settings.provider`` is unchanged."""
        service, namespace, labels, workload = self._identity
        same = settings.provider is self.settings.provider
        return MeshTracer(
            settings,
            service=service,
            namespace=namespace,
            labels=labels,
            workload=workload,
            _holder=self._holder if same else None,
        )

    def with_sampling(self, percentage: float) -> MeshTracer:
        """The same tracing with another sampling percentage."""
        return self.with_settings(replace(self.settings, sampling=percentage))

    def decide(self, parent: TraceContext | None) -> bool:
        """Whether a span continuing ``parent`` (None: a new trace) is sampled."""
        if parent is not None:
            if parent.sampled is not None and self.settings.parent_based:
                return parent.sampled
            if parent.has_ids:
                return low64(parent.trace_id) < self._bound
        return _RNG.getrandbits(64) < self._bound

    def tracer(self) -> Any:
        """The OpenTelemetry tracer (the provider resolved on first use)."""
        return self._holder.tracer(self.service_name)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export the spans still buffered (a workload shutting down calls it)."""
        return self._holder.force_flush(timeout_millis)


def tracer_for(
    tracing: Tracing | bool | None,
    *,
    service: str,
    namespace: str,
    labels: Mapping[str, str],
    workload: str,
) -> MeshTracer | None:
    """A workload's tracer for ``Mesh(tracing=...)``: settings, True (Istio's defaults, or
    the ``OTEL_*`` environment's), False (off), or None: on only when the ``OTEL_*``
    environment names an OTLP endpoint."""
    if tracing is False:
        return None
    settings = Tracing.from_env() if tracing is None or tracing is True else tracing
    if settings is None and tracing is True:
        settings = Tracing()
    if settings is None:
        return None
    return MeshTracer(
        settings, service=service, namespace=namespace, labels=labels, workload=workload
    )


def new_trace_id() -> bytes:
    """A random trace id, as it travels (32 lower-case hex digits, never all zero)."""
    # random.randbytes(16) without its Python frame: the same bits, the same bytes
    out = hexlify(_RNG.getrandbits(128).to_bytes(16, "little"))
    return out if out != _ZERO_TRACE else new_trace_id()


def new_span_id() -> bytes:
    """A random span id (16 lower-case hex digits, never all zero)."""
    out = hexlify(_RNG.getrandbits(64).to_bytes(8, "little"))  # (as new_trace_id)
    return out if out != _ZERO_SPAN else new_span_id()


class _ProviderHolder:
    """The provider and tracer of one workload's tracing, resolved once."""

    __slots__ = ("_lock", "_provider", "_tracer")

    def __init__(self, provider: Any) -> None:
        self._provider = provider
        self._tracer: Any = None
        self._lock = threading.Lock()

    def tracer(self, service_name: str) -> Any:
        t = self._tracer
        if t is not None:
            return t
        with self._lock:
            if self._tracer is None:
                from ._otel import resolve_provider

                self._provider = resolve_provider(self._provider, service_name)
                self._tracer = self._provider.get_tracer("inmesh")
            return self._tracer

    def force_flush(self, timeout_millis: int) -> bool:
        flush = getattr(self._provider, "force_flush", None)
        return bool(flush(timeout_millis)) if flush is not None else True
