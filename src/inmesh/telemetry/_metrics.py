"""Istio's standard HTTP metrics, updated from RequestRecords by a :class:`MetricsHook`.

``istio_requests_total`` (counter), ``istio_request_duration_milliseconds``,
``istio_request_bytes`` and ``istio_response_bytes`` (histograms), with every standard label
(``_labels.py``) and Envoy's default histogram buckets, which Istio uses for all three.

A record costs one key tuple, one dict lookup, one lock and three ``bisect``s (~1.5 us;
the OpenTelemetry SDK's metric API costs 45-60 us for the same, prometheus_client's own
label children ~3.5 us: see ``benchmarks/metrics.py``); prometheus_client writes the text
format at scrape time. One hook per process by default (:func:`default_metrics`): a
process is what Prometheus scrapes, as one pod's sidecar is in Istio, and several Meshes in
one process differ by their ``source_workload``/``destination_workload`` labels.

The outbound path, when this hook is a workload's only one, counts a call by its own key
for the call's label set (:meth:`MetricsHook.learn`, :meth:`MetricsHook.count`): the
record is made only the first time a label set is seen (~3.5 us a request less).

A record whose workload's Telemetry API policy changes its metrics (``disabled``,
``tagOverrides``) goes to :class:`~inmesh.telemetry._overrides.OverriddenSeries` instead,
whose series carry their own label sets.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from ._labels import LABEL_NAMES, label_key, labels_of
from ._overrides import OverriddenSeries
from ._record import RequestRecord

if TYPE_CHECKING:
    from collections.abc import Sequence

    from prometheus_client import CollectorRegistry

    from ._policy import ModeMetrics
    from ._record import RecordHook

__all__ = ["ENVOY_BUCKETS", "MetricsHook", "counting_hook", "default_metrics"]

#: Envoy's default histogram buckets (``stats_config.histogram_bucket_settings`` unset),
#: in the metric's unit: milliseconds for durations, bytes for sizes.
ENVOY_BUCKETS: tuple[float, ...] = (
    0.5,
    1,
    5,
    10,
    25,
    50,
    100,
    250,
    500,
    1000,
    2500,
    5000,
    10000,
    30000,
    60000,
    300000,
    600000,
    1800000,
    3600000,
)

# Distinct label sets cached before the key cache starts over (the series themselves stay).
_CACHE_LIMIT = 10_000


class _Series:
    """One label set's counter and three histograms (per-bucket counts, not cumulative)."""

    __slots__ = ("count", "dur", "dur_sum", "req", "req_sum", "resp", "resp_sum")

    def __init__(self, buckets: int) -> None:
        self.count = 0
        self.dur = [0] * (buckets + 1)  # the last one is +Inf
        self.req = [0] * (buckets + 1)
        self.resp = [0] * (buckets + 1)
        self.dur_sum = 0.0
        self.req_sum = 0
        self.resp_sum = 0


def counting_hook(hooks: Sequence[RecordHook], metrics: ModeMetrics) -> MetricsHook | None:
    """The hook that may count a request without its record (:meth:`MetricsHook.learn`,
    :meth:`MetricsHook.count`): the only hook is the standard metrics, and the Telemetry
    API changes nothing in ``metrics`` (the mode's settings), so only the standard labels
    are read. None: build the record and call every hook."""
    if len(hooks) == 1 and type(hooks[0]) is MetricsHook and metrics.plain:
        return hooks[0]
    return None


class MetricsHook:
    """A ``RecordHook`` (``mesh.add_hook(hook)``) that turns records into Istio's metrics.

    ``registry`` is the prometheus_client ``CollectorRegistry`` the metrics are exposed
    through (by default a new one, made when first read); :func:`~inmesh.telemetry.metrics_app` and
    :func:`~inmesh.telemetry.start_admin_server` serve it.

    Why not prometheus_client's ``Counter``/``Histogram`` children: each observation takes
    a lock and scans the buckets, ~1 us per histogram, 3.5 us per record for the four
    metrics. Here a record takes one lock, one dict lookup and three ``bisect``s (~1 us);
    prometheus_client formats the text at scrape time through a collector.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._series: dict[tuple[str, ...], _Series] = {}
        # record key -> (series, the label mappings the key holds by id, kept alive so
        # that their ids cannot be reused while the key exists)
        self._cache: dict[tuple[Any, ...], tuple[_Series, object, object]] = {}
        self._lock = threading.Lock()
        self._overrides = OverriddenSeries()
        # a caller's own key -> (series, what the key's ids name): see learn
        self._known: dict[tuple[Any, ...], tuple[_Series, object]] = {}
        self._registry = registry
        if registry is not None:
            registry.register(_Collector(self))

    @property
    def registry(self) -> CollectorRegistry:
        """The registry the metrics are exposed through, made on first read when none was
        given: recording needs no prometheus_client, so a process whose metrics nobody
        scrapes never loads it (~1.2 MiB resident)."""
        if self._registry is None:
            from prometheus_client import CollectorRegistry

            with self._lock:
                if self._registry is None:
                    registry = CollectorRegistry()
                    registry.register(_Collector(self))
                    self._registry = registry
        return self._registry

    def __call__(self, rec: RequestRecord) -> None:
        policy = rec.telemetry
        if policy is not None:
            settings = (
                policy.server_metrics if rec.reporter == "destination" else policy.client_metrics
            )  # (policy.metrics_for, inline: this runs on every request)
            if settings.disabled or settings.overrides:
                # the Telemetry API changes something for this mode
                if not settings.disabled:
                    self._overrides.observe(rec, settings)
                return
        self.count(self.series_for(rec), rec.duration, rec.request_bytes, rec.response_bytes)

    # -- a caller's own key (the outbound path's: no record while the key is known) --------

    def learn(self, key: tuple[Any, ...], keep: object, rec: RequestRecord) -> None:
        """Count ``rec`` (a plain one: the Telemetry API changes nothing for its mode) and
        remember that the caller's ``key`` stands for its label set from now on. The key
        must determine every standard label of ``rec``; ``keep`` holds what its ids name
        (kept alive so that an id cannot be reused while the key exists)."""
        series = self.series_for(rec)
        self.count(series, rec.duration, rec.request_bytes, rec.response_bytes)
        with self._lock:
            if len(self._known) >= _CACHE_LIMIT:
                self._known = {}
            self._known[key] = (series, keep)

    def count_by(
        self, key: tuple[Any, ...], duration: float, request_bytes: int, response_bytes: int
    ) -> bool:
        """:meth:`count` in the series a caller's own ``key`` stands for (:meth:`learn`);
        False (nothing counted) when the key is unknown: the caller then learns it."""
        entry = self._known.get(key)
        if entry is None:
            return False
        self.count(entry[0], duration, request_bytes, response_bytes)
        return True

    def count(
        self, series: _Series, duration: float, request_bytes: int, response_bytes: int
    ) -> None:
        """One request of ``series``: ``duration`` in seconds, body sizes in bytes."""
        ms = duration * 1000.0
        req, resp = request_bytes, response_bytes
        with self._lock:
            series.count += 1
            series.dur[bisect_left(ENVOY_BUCKETS, ms)] += 1
            series.dur_sum += ms
            series.req[bisect_left(ENVOY_BUCKETS, req)] += 1
            series.req_sum += req
            series.resp[bisect_left(ENVOY_BUCKETS, resp)] += 1
            series.resp_sum += resp

    def _new_series(self, key: tuple[Any, ...], rec: RequestRecord) -> _Series:
        values = labels_of(rec)
        with self._lock:
            series = self._series.get(values)
            if series is None:
                series = self._series[values] = _Series(len(ENVOY_BUCKETS))
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache = {}
            self._cache[key] = (series, rec.source_labels, rec.destination_labels)
        return series

    def series_for(self, rec: RequestRecord) -> _Series:
        """The series of ``rec``'s standard labels (the caller has checked that its
        Telemetry policy changes nothing for its reporter); :meth:`count` counts in it."""
        key = label_key(rec)
        entry = self._cache.get(key)
        return entry[0] if entry is not None else self._new_series(key, rec)

    def snapshot(self) -> list[tuple[tuple[str, ...], _Series]]:
        """A consistent copy of every series (label values, counts), for exposition."""
        out = []
        with self._lock:
            for values, s in self._series.items():
                copy = _Series(0)
                copy.count, copy.dur_sum, copy.req_sum, copy.resp_sum = (
                    s.count,
                    s.dur_sum,
                    s.req_sum,
                    s.resp_sum,
                )
                copy.dur, copy.req, copy.resp = list(s.dur), list(s.req), list(s.resp)
                out.append((values, copy))
        return out

    def exposition(self) -> bytes:
        """The metrics in Prometheus text format (version 0.0.4)."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


class _Collector:
    """Turns a hook's series into prometheus_client metric families at scrape time."""

    def __init__(self, hook: MetricsHook) -> None:
        self.hook = hook

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        # le as Envoy writes it: 0.5, 1, ..., 3.6e+06
        bounds = [f"{b:g}" for b in ENVOY_BUCKETS] + ["+Inf"]
        series = self.hook.snapshot()
        total = CounterMetricFamily(
            "istio_requests", "Requests handled by a mesh workload.", labels=LABEL_NAMES
        )
        families = (
            ("istio_request_duration_milliseconds", "Request duration in milliseconds.", "dur"),
            ("istio_request_bytes", "Request body sizes in bytes.", "req"),
            ("istio_response_bytes", "Response body sizes in bytes.", "resp"),
        )
        hists = [
            (HistogramMetricFamily(name, doc, labels=LABEL_NAMES), attr)
            for name, doc, attr in families
        ]
        for values, s in series:
            total.add_metric(values, s.count)
            for family, attr in hists:
                counts: list[int] = getattr(s, attr)
                cumulative = list(zip(bounds, accumulate(counts), strict=True))
                family.add_metric(values, cumulative, getattr(s, attr + "_sum"))
        self.hook._overrides.collect(total, [family for family, _ in hists], bounds)
        yield total
        for family, _ in hists:
            yield family


_default: MetricsHook | None = None
_default_lock = threading.Lock()


def default_metrics() -> MetricsHook:
    """The process's hook, created on first use: what ``inmesh serve`` registers on its
    Mesh and what :func:`metrics_app` and :func:`start_admin_server` expose by default."""
    global _default
    with _default_lock:
        if _default is None:
            _default = MetricsHook()
        return _default
