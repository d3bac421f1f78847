"""Istio's Telemetry API resolved for one workload: a frozen :class:`TelemetryPolicy`.

Which Telemetry resources apply, as Istio's ``applicableTelemetries``
(pilot/pkg/model/telemetry.go), in this order, later ones overriding earlier ones:

1. the root namespace's (``istio-system``) namespace-wide resource (no selector);
2. the workload's namespace's namespace-wide resource (when it is not the root);
3. every resource of the workload's namespace whose ``selector.matchLabels`` the workload's
   labels satisfy.

At levels 1 and 2 only the oldest resource counts; level 3 applies them all, oldest first
(Istio sorts by ``creationTimestamp``, then name, then namespace:
``sortConfigByCreationTime``). The merge of each part follows the same file:

- metrics (``mergeMetrics``): overrides apply in order per mode (CLIENT, SERVER) and per
  metric; ``disabled`` is taken when set; ``tagOverrides`` merge by tag name; an override
  matching ALL_METRICS with ``disabled: true`` turns the whole mode off until a later
  override for that mode turns any metric back on;
- tracing (``Tracing``): each of ``randomSamplingPercentage``, ``disableSpanReporting``
  and ``customTags`` (whole map) replaces the earlier value when set;
- access logging (``mergeLogs``): the last entry matching the mode decides on or off; the
  filter is the last one given for the provider.

The built-in providers stand for Istio's MeshConfig ``extensionProviders``:
``prometheus`` (metrics, the default), ``envoy`` (access logs, the default) and
``opentelemetry`` (tracing, the default; the ``OTEL_*`` exporter). Any other name is
refused by :func:`~._problems.telemetry_problems`. Unlike an Istio install with
``defaultProviders.accessLogging: [envoy]``, access logs stay off while no Telemetry
``accessLogging`` entry applies (``Mesh(access_log=...)`` is then the switch, as
MeshConfig's ``accessLogFile`` is in Istio).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, Literal

from .._namespaces import ROOT_NAMESPACE, selects
from ._cel import Expression, compile_filter, compile_tag_value
from ._labels import canonical_revision, canonical_service

__all__ = [
    "ACCESS_LOG_PROVIDER",
    "EMPTY_POLICY",
    "METRICS",
    "METRICS_PROVIDER",
    "TRACING_PROVIDER",
    "AccessLogRule",
    "MetricOverride",
    "ModeMetrics",
    "TagRule",
    "TelemetryPolicy",
    "TracingRule",
    "resolve_telemetry",
    "tracing_settings",
]

Mode = Literal["CLIENT", "SERVER"]
METRICS_PROVIDER = "prometheus"
ACCESS_LOG_PROVIDER = "envoy"
TRACING_PROVIDER = "opentelemetry"
#: Istio's metric enum -> the Prometheus metric (``metricToPrometheusMetric``).
METRICS: Mapping[str, str] = {
    "REQUEST_COUNT": "istio_requests_total",
    "REQUEST_DURATION": "istio_request_duration_milliseconds",
    "REQUEST_SIZE": "istio_request_bytes",
    "RESPONSE_SIZE": "istio_response_bytes",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NO_TAGS: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class TagRule:
    """One label change: ``remove`` it, or set it to ``value(record)`` (``expression``)."""

    name: str
    remove: bool
    expression: str = ""
    value: Expression | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class MetricOverride:
    """One metric's merged override in one mode."""

    disabled: bool = False
    tags: tuple[TagRule, ...] = ()


@dataclass(frozen=True, slots=True)
class ModeMetrics:
    """The metric settings of one mode (CLIENT: ``reporter="source"``, SERVER:
    ``reporter="destination"``): all off, or per-metric overrides (by Istio's enum name)."""

    disabled: bool = False
    overrides: Mapping[str, MetricOverride] = field(default_factory=lambda: _NO_TAGS)

    @property
    def plain(self) -> bool:
        """Nothing to change: every metric with its standard labels."""
        return not self.disabled and not self.overrides


@dataclass(frozen=True, slots=True)
class AccessLogRule:
    """Access logging of one mode, as the Telemetry API set it."""

    disabled: bool
    filter: str = ""
    matches: Expression | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class TracingRule:
    """Tracing of one mode: ``sampling`` in percent (None: not set here, the tracer's
    default), span reporting off, and the custom tags: name -> (``literal``,
    ``environment`` or ``header``, the value or variable/header name, the default)."""

    sampling: float | None = None
    disabled: bool = False
    custom_tags: Mapping[str, tuple[str, str, str]] = field(default_factory=lambda: _NO_TAGS)


@dataclass(frozen=True, slots=True)
class TelemetryPolicy:
    """What the Telemetry API says for one workload, per mode. ``sources`` names the
    resources applied (``namespace/name``, in order); the access-log and tracing parts are
    None when no resource configures them (the Mesh's own settings apply)."""

    client_metrics: ModeMetrics = ModeMetrics()
    server_metrics: ModeMetrics = ModeMetrics()
    client_log: AccessLogRule | None = None
    server_log: AccessLogRule | None = None
    client_tracing: TracingRule | None = None
    server_tracing: TracingRule | None = None
    sources: tuple[str, ...] = ()

    def metrics_for(self, reporter: str) -> ModeMetrics:
        return self.server_metrics if reporter == "destination" else self.client_metrics

    def access_log_for(self, reporter: str) -> AccessLogRule | None:
        return self.server_log if reporter == "destination" else self.client_log

    def tracing_for(self, reporter: str) -> TracingRule | None:
        return self.server_tracing if reporter == "destination" else self.client_tracing

    @property
    def logs_anything(self) -> bool:
        """Whether some mode has access logging on."""
        return any(r is not None and not r.disabled for r in (self.client_log, self.server_log))


EMPTY_POLICY = TelemetryPolicy()


def tracing_settings(
    policy: TelemetryPolicy, reporter: str = "destination"
) -> tuple[float | None, Mapping[str, tuple[str, str, str]], bool] | None:
    """The tracing part for the tracer, for ``reporter`` (``source``: CLIENT mode,
    ``destination``: SERVER mode): (sampling percentage, None for the tracer's default;
    custom tags, name -> (``"literal"``, value, ``""``) or (``"header"``, header name,
    default value), an ``environment`` tag read now into a literal one; span reporting
    disabled). None when no Telemetry resource configures tracing for that mode."""
    rule = policy.tracing_for(reporter)
    if rule is None:
        return None
    tags: dict[str, tuple[str, str, str]] = {}
    for name, (kind, value, default) in rule.custom_tags.items():
        if kind == "environment":
            tags[name] = ("literal", os.environ.get(value, default), "")
        else:
            tags[name] = (kind, value, default)
    return rule.sampling, MappingProxyType(tags), rule.disabled


# -- resolution ----------------------------------------------------------------------------


def _order(resource: Any) -> tuple[datetime, str, str]:
    created = resource.metadata.creation_timestamp or _EPOCH
    if created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    return (created, resource.name, resource.namespace)


def _namespace_wide(spec: Any) -> bool:
    selector = spec.selector.match_labels if spec.selector is not None else None
    return not selector and spec.target_ref is None and not spec.target_refs


def workload_labels(labels: Mapping[str, str], workload: str) -> dict[str, str]:
    """The labels a selector sees: the workload's, with the canonical name and revision
    that Istio's sidecar injector adds to every pod when absent."""
    out = dict(labels)
    out.setdefault("service.istio.io/canonical-name", canonical_service(labels, workload))
    out.setdefault("service.istio.io/canonical-revision", canonical_revision(labels))
    return out


def applicable(
    resources: Iterable[Any],
    *,
    namespace: str,
    labels: Mapping[str, str],
    root_namespace: str = ROOT_NAMESPACE,
) -> list[Any]:
    """The Telemetry resources that apply to the workload, in merge order."""
    telemetries = sorted(
        (r for r in resources if getattr(r, "kind", None) == "Telemetry"), key=_order
    )
    out: list[Any] = []
    levels = [root_namespace] if namespace == root_namespace else [root_namespace, namespace]
    for ns in levels:
        wide = next((t for t in telemetries if t.namespace == ns and _namespace_wide(t.spec)), None)
        if wide is not None:
            out.append(wide)
    for t in telemetries:
        if t.namespace == namespace and not _namespace_wide(t.spec):
            selector = t.spec.selector.match_labels if t.spec.selector is not None else {}
            if selector and selects(selector, labels):
                out.append(t)
    return out


def _modes(mode: str | None) -> tuple[Mode, ...]:
    if mode == "CLIENT":
        return ("CLIENT",)
    if mode == "SERVER":
        return ("SERVER",)
    return ("CLIENT", "SERVER")


def _merge_metrics(telemetries: list[Any]) -> dict[Mode, ModeMetrics]:
    per_mode: dict[Mode, dict[str, tuple[bool | None, dict[str, Any]]]] = {
        "CLIENT": {},
        "SERVER": {},
    }
    all_off: set[Mode] = set()
    for t in telemetries:
        for m in t.spec.metrics:
            for o in m.overrides:
                match = o.match
                metric = match.metric if match is not None else None
                mode = match.mode if match is not None else None
                every = metric in (None, "ALL_METRICS")
                if every and o.disabled is True:
                    all_off.update(_modes(mode))
                    continue
                names: list[str] = list(METRICS) if every else [str(metric)]
                for md in _modes(mode):
                    all_off.discard(md)  # a later override turns the mode back on
                    for name in names:
                        disabled, tags = per_mode[md].get(name, (None, {}))
                        if o.disabled is not None:
                            disabled = o.disabled
                        for tag, rule in (o.tag_overrides or {}).items():
                            tags = {**tags, tag: rule}
                        per_mode[md][name] = (disabled, tags)
    out: dict[Mode, ModeMetrics] = {}
    for md, metrics in per_mode.items():
        if md in all_off:
            out[md] = ModeMetrics(disabled=True)
            continue
        overrides = {
            name: MetricOverride(
                bool(disabled), tuple(_tag_rule(k, v) for k, v in sorted(tags.items()))
            )
            for name, (disabled, tags) in metrics.items()
        }
        overrides = {k: v for k, v in overrides.items() if v.disabled or v.tags}
        out[md] = ModeMetrics(False, MappingProxyType(overrides))
    return out


def _tag_rule(name: str, rule: Any) -> TagRule:
    if rule.operation == "REMOVE":
        return TagRule(name, True)
    return TagRule(name, False, rule.value, compile_tag_value(rule.value))


def _merge_logs(telemetries: list[Any]) -> dict[Mode, AccessLogRule | None]:
    out: dict[Mode, AccessLogRule | None] = {}
    for md in ("CLIENT", "SERVER"):
        decided: bool | None = None  # disabled?
        expression = ""
        for t in telemetries:
            for a in t.spec.access_logging:
                if md not in _modes(a.match.mode if a.match is not None else None):
                    continue
                # mergeLogs: the filter is the last one given, on or off
                expression = a.filter.expression or "" if a.filter is not None else ""
                decided = a.disabled is True
        if decided is None:
            out[md] = None
        else:
            matches = compile_filter(expression) if expression else None
            out[md] = AccessLogRule(decided, expression, matches)
    return out


def _merge_tracing(telemetries: list[Any]) -> dict[Mode, TracingRule | None]:
    state: dict[Mode, dict[str, Any] | None] = {"CLIENT": None, "SERVER": None}
    for t in telemetries:
        for tr in t.spec.tracing:
            for md in _modes(tr.match.mode if tr.match is not None else None):
                spec = state[md] or {"sampling": None, "disabled": False, "tags": _NO_TAGS}
                if tr.random_sampling_percentage is not None:
                    spec["sampling"] = float(tr.random_sampling_percentage)
                if tr.disable_span_reporting is not None:
                    spec["disabled"] = tr.disable_span_reporting
                if tr.custom_tags is not None:  # replaces the parent's, as Istio's
                    spec["tags"] = MappingProxyType(
                        {k: _custom_tag(v) for k, v in tr.custom_tags.items()}
                    )
                state[md] = spec
    return {
        md: None if s is None else TracingRule(s["sampling"], s["disabled"], s["tags"])
        for md, s in state.items()
    }


def _custom_tag(tag: Any) -> tuple[str, str, str]:
    if tag.literal is not None:
        return ("literal", tag.literal.value, "")
    if tag.environment is not None:
        return ("environment", tag.environment.name, tag.environment.default_value or "")
    if tag.header is not None:
        return ("header", tag.header.name, tag.header.default_value or "")
    return ("literal", "", "")


def resolve_telemetry(
    resources: Iterable[Any],
    *,
    namespace: str,
    labels: Mapping[str, str],
    workload: str = "",
    root_namespace: str = ROOT_NAMESPACE,
) -> TelemetryPolicy:
    """The policy of the workload (``namespace``, ``labels``, ``workload`` name) under the
    Telemetry resources in ``resources`` (other kinds are skipped). Resources must have
    passed :func:`telemetry_problems`."""
    chosen = applicable(
        resources,
        namespace=namespace,
        labels=workload_labels(labels, workload),
        root_namespace=root_namespace,
    )
    if not chosen:
        return EMPTY_POLICY
    metrics = _merge_metrics(chosen)
    logs = _merge_logs(chosen)
    tracing = _merge_tracing(chosen)
    return TelemetryPolicy(
        client_metrics=metrics["CLIENT"],
        server_metrics=metrics["SERVER"],
        client_log=logs["CLIENT"],
        server_log=logs["SERVER"],
        client_tracing=tracing["CLIENT"],
        server_tracing=tracing["SERVER"],
        sources=tuple(f"{t.namespace}/{t.name}" for t in chosen),
    )
