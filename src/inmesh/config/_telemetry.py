"""Telemetry (telemetry.istio.io v1, v1alpha1): metrics, tracing and access-log settings.

Field for field istio/api ``telemetry/v1alpha1/telemetry.proto`` (v1 is an alias of the
same messages), with the rules of Istio's ``ValidateTelemetry`` (pkg/config/validation).
What the runtime does with each field is the support table's business
(:mod:`inmesh.config._support`) and the policy compiler's (:mod:`inmesh.telemetry._policy`),
which refuses by name what it cannot honour (unknown providers, CEL beyond its subset).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, model_validator
from typing_extensions import Self

from inmesh.config._base import Bool, IstioModel, IstioResource, Str, Violations
from inmesh.config._common import PolicyTargetReference, WorkloadSelector
from inmesh.config._duration import Duration

__all__ = [
    "AccessLogFilter",
    "AccessLogging",
    "CustomTag",
    "IstioMetric",
    "LogSelector",
    "MetricSelector",
    "Metrics",
    "MetricsOverrides",
    "ProviderRef",
    "TagOverride",
    "Telemetry",
    "TelemetrySpec",
    "Tracing",
    "TracingEnvironment",
    "TracingFormatter",
    "TracingLiteral",
    "TracingRequestHeader",
    "TracingSelector",
    "WorkloadMode",
]

TelemetryVersion = Literal["telemetry.istio.io/v1", "telemetry.istio.io/v1alpha1"]
#: ``SERVER``: the workload is the destination (inbound); ``CLIENT``: the source (outbound).
WorkloadMode = Literal["CLIENT_AND_SERVER", "CLIENT", "SERVER"]
IstioMetric = Literal[
    "ALL_METRICS",
    "REQUEST_COUNT",
    "REQUEST_DURATION",
    "REQUEST_SIZE",
    "RESPONSE_SIZE",
    "TCP_OPENED_CONNECTIONS",
    "TCP_CLOSED_CONNECTIONS",
    "TCP_SENT_BYTES",
    "TCP_RECEIVED_BYTES",
    "GRPC_REQUEST_MESSAGES",
    "GRPC_RESPONSE_MESSAGES",
]


class ProviderRef(IstioModel):
    """A provider by its MeshConfig ``extensionProviders`` name."""

    name: Str


def _check_providers(providers: tuple[ProviderRef, ...], problems: Violations) -> None:
    # validateTelemetryProviders
    for i, p in enumerate(providers):
        if not p.name:
            problems.add("providers.name may not be empty", "providers", i, "name")


class _ProvidersOnly(IstioModel):
    """An entry whose only rule of its own is Istio's on ``providers`` (each names one):
    the subclass declares the field where istio/api has it."""

    if TYPE_CHECKING:
        providers: tuple[ProviderRef, ...]

    @model_validator(mode="after")
    def _check(self) -> Self:
        problems = Violations()
        _check_providers(self.providers, problems)
        problems.raise_if_any()
        return self


class TracingSelector(IstioModel):
    mode: WorkloadMode | None = None


class TracingLiteral(IstioModel):
    value: Str


class TracingEnvironment(IstioModel):
    name: Str
    default_value: Str | None = None


class TracingRequestHeader(IstioModel):
    name: Str
    default_value: Str | None = None


class TracingFormatter(IstioModel):
    value: Str


class CustomTag(IstioModel):
    """A span tag from a literal, an environment variable or a request header (one of)."""

    literal: TracingLiteral | None = None
    environment: TracingEnvironment | None = None
    header: TracingRequestHeader | None = None
    formatter: TracingFormatter | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        problems = Violations()
        kinds = [
            x
            for x in (self.literal, self.environment, self.header, self.formatter)
            if x is not None
        ]
        if len(kinds) > 1:
            problems.add("only one of literal, environment, header or formatter may be set")
        # validateTelemetryTracing
        if self.literal is not None and not self.literal.value:
            problems.add("literal tag value may not be empty", "literal", "value")
        if self.header is not None and not self.header.name:
            problems.add("header tag name may not be empty", "header", "name")
        if self.environment is not None and not self.environment.name:
            problems.add("environment tag name may not be empty", "environment", "name")
        problems.raise_if_any()
        return self


class Tracing(IstioModel):
    """Sampling, span reporting and custom tags for the selected workloads."""

    match: TracingSelector | None = None
    providers: tuple[ProviderRef, ...] = ()
    random_sampling_percentage: float | None = None
    disable_span_reporting: Bool | None = None
    custom_tags: Mapping[str, CustomTag] | None = None
    use_request_id_for_trace_sampling: Bool | None = None
    enable_istio_tags: Bool | None = None
    disable_context_propagation: Bool | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validateTelemetryTracing
        problems = Violations()
        _check_providers(self.providers, problems)
        # several providers: Istio warns (and uses the first); each name is checked at support
        pct = self.random_sampling_percentage
        if pct is not None and not 0.0 <= pct <= 100.0:
            problems.add(
                "randomSamplingPercentage must be in range [0.0, 100.0]",
                "randomSamplingPercentage",
            )
        for name in self.custom_tags or {}:
            if not name:
                problems.add("tag name may not be empty", "customTags", name)
        problems.raise_if_any()
        return self


class MetricSelector(IstioModel):
    """Which metric(s) an override applies to, and in which mode."""

    metric: IstioMetric | None = None
    custom_metric: Str | None = None
    mode: WorkloadMode | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        problems = Violations()
        if self.metric is not None and self.custom_metric is not None:
            problems.add("only one of metric or customMetric may be set")
        if self.custom_metric is not None and not self.custom_metric:
            problems.add("customMetric may not be empty", "customMetric")
        problems.raise_if_any()
        return self


class TagOverride(IstioModel):
    """Add/change (``UPSERT`` with a CEL ``value``) or drop (``REMOVE``) one label."""

    operation: Literal["UPSERT", "REMOVE"] | None = None
    value: Str | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validateTelemetryMetrics, and the CRD's x-kubernetes-validations
        problems = Violations()
        if (self.operation or "UPSERT") == "UPSERT" and not self.value:
            problems.add("tagOverrides.value must be set when operation is UPSERT", "value")
        if self.operation == "REMOVE" and self.value:
            problems.add("tagOverrides.value may only be set when operation is UPSERT", "value")
        problems.raise_if_any()
        return self


class MetricsOverrides(IstioModel):
    """Disable metrics, or change their labels, for the matched metrics and mode."""

    match: MetricSelector | None = None
    disabled: Bool | None = None
    tag_overrides: Mapping[str, TagOverride] | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        problems = Violations()
        for name in self.tag_overrides or {}:
            if not name:
                problems.add("tagOverrides.name may not be empty", "tagOverrides", name)
        problems.raise_if_any()
        return self


class Metrics(_ProvidersOnly):
    """Metric overrides for some providers (the default provider when none is named)."""

    providers: tuple[ProviderRef, ...] = ()
    overrides: tuple[MetricsOverrides, ...] = ()
    reporting_interval: Duration | None = None


class LogSelector(IstioModel):
    mode: WorkloadMode | None = None


class AccessLogFilter(IstioModel):
    """A CEL expression selecting the requests to log (``response.code >= 400``)."""

    expression: Str | None = None


class AccessLogging(_ProvidersOnly):
    """Turn access logs on or off (``disabled``) for some providers, some mode."""

    match: LogSelector | None = None
    providers: tuple[ProviderRef, ...] = ()
    disabled: Bool | None = None
    filter: AccessLogFilter | None = None


class TelemetrySpec(IstioModel):
    """How telemetry is generated for the selected workloads (``selector``), or for the
    namespace (no selector), or the mesh (no selector, in the root namespace)."""

    selector: WorkloadSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: Annotated[tuple[PolicyTargetReference, ...], Field(max_length=16)] = ()
    tracing: tuple[Tracing, ...] = ()
    metrics: tuple[Metrics, ...] = ()
    access_logging: tuple[AccessLogging, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Self:
        # ValidateTelemetry: validateOneOfSelectorType
        problems = Violations()
        chosen = (self.selector, self.target_ref, self.target_refs)
        if sum(x is not None and x != () for x in chosen) > 1:
            problems.add("only one of targetRefs or workloadSelector can be set")
        problems.raise_if_any()
        return self


class Telemetry(IstioResource):
    """``telemetry.istio.io`` Telemetry: metrics overrides, tracing and access logging."""

    api_version: TelemetryVersion = Field(default="telemetry.istio.io/v1", alias="apiVersion")
    kind: Literal["Telemetry"] = "Telemetry"
    spec: TelemetrySpec = Field(default_factory=TelemetrySpec)
