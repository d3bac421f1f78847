"""What a workload gets without code, as a sidecar has it: metadata exchange headers,
Istio's standard metrics, access logs and traces, and the Telemetry API over them.

One :class:`WorkloadTelemetry` per Mesh sets up its :class:`~inmesh._state.MeshState`
once (exchange headers, the metrics hook, the configured tracer) and again on every
configuration change (:meth:`changed`): the Telemetry API's policy is resolved for the
workload, the access-log hook is installed exactly while something may log (a record
costs nothing without hooks), and the policy's tracing replaces the configured tracer's
sampling and tags, per direction: ``tracing`` makes server spans (the destination
reporter, Istio's SERVER mode), ``client_tracing`` client spans (CLIENT mode).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Literal

from ._errors import ConfigError

if TYPE_CHECKING:
    from ._state import MeshState
    from .routing import Snapshot
    from .telemetry import MeshTracer, Tracing
    from .telemetry._access_log import AccessLogHook
    from .telemetry._policy import TelemetryPolicy

AccessLogSetting = bool | Literal["text", "json"]


def _access_log_hook(setting: AccessLogSetting) -> AccessLogHook:
    from .telemetry._access_log import AccessLogHook

    if setting is True or setting is False:
        return AccessLogHook(enabled=setting)
    if setting in ("text", "json"):
        return AccessLogHook(enabled=True, encoding=setting)
    raise ConfigError(f"access_log must be True, False, 'text' or 'json', not {setting!r}")


class WorkloadTelemetry:
    """The telemetry of one workload (see the module)."""

    def __init__(
        self,
        state: MeshState,
        *,
        namespace: str,
        labels: Mapping[str, str],
        service: str,
        service_account: str,
        metrics: bool,
        tracing: Tracing | bool | None,
        access_log: AccessLogSetting,
    ) -> None:
        from .telemetry import default_metrics, tracer_for
        from .telemetry._exchange import exchange_headers

        self._state = state
        self._namespace = namespace
        self._labels = labels
        self._service = service
        self._access_log = _access_log_hook(access_log)
        identity = state.identity
        state.exchange = exchange_headers(
            workload=state.workload,
            namespace=namespace,
            labels=labels,
            service_account=service_account,
            address=identity.address,
            trust_domain=identity.trust_domain,
        )
        if metrics:
            state.hooks = (*state.hooks, default_metrics())
        #: the tracer ``Mesh(tracing=...)`` or the ``OTEL_*`` environment configured
        self.configured: MeshTracer | None = None
        if tracing is not False:
            self.configured = tracer_for(
                tracing, service=service, namespace=namespace, labels=labels,
                workload=state.workload,
            )  # fmt: skip
        #: the tracer made when the Telemetry API asks for tracing and nothing is configured
        self._fallback: MeshTracer | None = None
        state.tracing = state.client_tracing = self.configured

    def set_tracer(self, tracer: MeshTracer | None) -> None:
        """A tracer chosen in code: both directions, until the next configuration change
        applies the Telemetry API's tracing over it again."""
        self.configured = tracer
        self._state.tracing = self._state.client_tracing = tracer

    def changed(self, snapshot: Snapshot) -> None:
        """Resolve the Telemetry API for the configuration now in force (see the module)."""
        from .telemetry._policy import resolve_telemetry

        state = self._state
        state.telemetry = policy = resolve_telemetry(
            snapshot.resources,
            namespace=self._namespace,
            labels=self._labels,
            workload=state.workload,
        )
        hook = self._access_log
        wanted = hook.enabled or policy.logs_anything
        installed = any(h is hook for h in state.hooks)
        if wanted and not installed:
            state.hooks = (*state.hooks, hook)
        elif installed and not wanted:
            state.hooks = tuple(h for h in state.hooks if h is not hook)
        state.full_records = wanted or bool(policy.sources)
        state.tracing = self._tracer(policy, "destination")
        state.client_tracing = self._tracer(policy, "source")

    def _tracer(self, policy: TelemetryPolicy, reporter: str) -> MeshTracer | None:
        """The configured tracer with the Telemetry API's tracing for ``reporter`` over it:
        ``randomSamplingPercentage`` and ``customTags`` replace the configured ones,
        ``disableSpanReporting`` turns spans off (trace headers still propagate). Tracing
        the Telemetry API asks for with nothing configured exports as ``OTEL_*`` say (OTLP
        over HTTP, OpenTelemetry's default endpoint when unset)."""
        from .telemetry import HeaderTag, tracer_for
        from .telemetry._policy import tracing_settings

        got = tracing_settings(policy, reporter)
        if got is None:
            return self.configured
        sampling, tags, disabled = got
        if disabled:
            return None
        base = self.configured or self._fallback
        if base is None:
            base = self._fallback = tracer_for(
                True, service=self._service, namespace=self._namespace,
                labels=self._labels, workload=self._state.workload,
            )  # fmt: skip
            assert base is not None
        # customTags replace the configured ones as a whole (as a Telemetry's replace its
        # parent's), when the Telemetry API sets any
        custom: dict[str, str | HeaderTag] = {} if tags else dict(base.settings.custom_tags)
        for name, (kind, value, default) in tags.items():
            custom[name] = value if kind == "literal" else HeaderTag(value, default)
        settings: Tracing = replace(
            base.settings,
            sampling=base.settings.sampling if sampling is None else sampling,
            custom_tags=custom,
        )
        return base.with_settings(settings)
