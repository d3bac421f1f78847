"""Istio's metrics as a Telemetry API policy changes them: metrics dropped, labels removed,
changed or added (``tagOverrides``), each metric with its own label set.

Istio's stats filter applies the merged overrides per metric (istio/proxy
``istio_stats.cc``: ``drop`` skips the metric, ``tags_to_remove`` drops a label,
``dimensions`` sets a label from a CEL expression, adding it when it is not a standard
one); this module does the same for the records of a workload whose policy says so. The
standard path (:class:`~inmesh.telemetry.MetricsHook`) stays the fast one for every other
record.

Cardinality: a label added or changed by an expression keeps at most
:data:`TAG_VALUE_LIMIT` distinct values per tag name; later values are counted under
``overflow`` (the expressions are limited to attributes of few values,
:data:`~inmesh.telemetry._cel.BOUNDED_ATTRIBUTES`, but a request header can take any).
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from itertools import accumulate
from typing import Any

from ._labels import LABEL_NAMES, labels_of
from ._policy import METRICS, ModeMetrics, TagRule
from ._record import RequestRecord

__all__ = ["OVERFLOW", "TAG_VALUE_LIMIT", "OverriddenSeries"]

TAG_VALUE_LIMIT = 1000
OVERFLOW = "overflow"
_NAMES = tuple(METRICS)  # REQUEST_COUNT, REQUEST_DURATION, REQUEST_SIZE, RESPONSE_SIZE
Labels = tuple[tuple[str, str], ...]


class _Histogram:
    __slots__ = ("buckets", "total")

    def __init__(self, size: int) -> None:
        self.buckets = [0] * (size + 1)
        self.total = 0.0


class OverriddenSeries:
    """The series of records whose metrics a Telemetry policy changed."""

    def __init__(self) -> None:
        from ._metrics import ENVOY_BUCKETS

        self._bounds = ENVOY_BUCKETS
        self._lock = threading.Lock()
        self._counts: dict[Labels, int] = {}
        self._hists: tuple[dict[Labels, _Histogram], ...] = ({}, {}, {})
        self._values: dict[str, set[str]] = {}

    def _bounded(self, tag: str, value: str) -> str:
        seen = self._values.setdefault(tag, set())
        if value in seen:
            return value
        if len(seen) >= TAG_VALUE_LIMIT:
            return OVERFLOW
        seen.add(value)
        return value

    def _labels(
        self, base: tuple[str, ...], tags: tuple[TagRule, ...], rec: RequestRecord
    ) -> Labels:
        items = dict(zip(LABEL_NAMES, base, strict=True))
        for tag in tags:
            if tag.remove:
                items.pop(tag.name, None)
            elif tag.value is not None:
                items[tag.name] = self._bounded(tag.name, tag.value(rec))
        return tuple(items.items())

    def observe(self, rec: RequestRecord, settings: ModeMetrics) -> None:
        """Count ``rec`` in every metric ``settings`` keeps, with its labels."""
        base = labels_of(rec)
        observed = (rec.duration * 1000.0, rec.request_bytes, rec.response_bytes)
        for i, name in enumerate(_NAMES):
            override = settings.overrides.get(name)
            if override is not None and override.disabled:
                continue
            labels = self._labels(base, override.tags if override is not None else (), rec)
            with self._lock:
                if i == 0:
                    self._counts[labels] = self._counts.get(labels, 0) + 1
                    continue
                hists = self._hists[i - 1]
                hist = hists.get(labels)
                if hist is None:
                    hist = hists[labels] = _Histogram(len(self._bounds))
                value = observed[i - 1]
                hist.buckets[bisect_left(self._bounds, value)] += 1
                hist.total += value

    def collect(self, total: Any, histograms: list[Any], bounds: list[str]) -> None:
        """Add the series to the scrape's families (``istio_requests`` and the three
        histograms, in that order), each sample with its own labels."""
        with self._lock:
            counts = list(self._counts.items())
            hists = [
                [(labels, list(h.buckets), h.total) for labels, h in per.items()]
                for per in self._hists
            ]
        for labels, count in counts:
            total.add_sample(total.name + "_total", dict(labels), count)
        for family, series in zip(histograms, hists, strict=True):
            for labels, buckets, value_sum in series:
                base = dict(labels)
                cumulative = list(accumulate(buckets))
                for le, n in zip(bounds, cumulative, strict=True):
                    family.add_sample(family.name + "_bucket", {**base, "le": le}, n)
                family.add_sample(family.name + "_count", base, cumulative[-1])
                family.add_sample(family.name + "_sum", base, value_sum)
