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

from ._labels import LABEL_NAMES, label_key, labels_of
from ._policy import METRICS, ModeMetrics
from ._record import RequestRecord

__all__ = ["OVERFLOW", "TAG_VALUE_LIMIT", "OverriddenSeries"]

TAG_VALUE_LIMIT = 1000
OVERFLOW = "overflow"
_NAMES = tuple(METRICS)  # REQUEST_COUNT, REQUEST_DURATION, REQUEST_SIZE, RESPONSE_SIZE
Labels = tuple[tuple[str, str], ...]
_CACHE_LIMIT = 10_000


class _Histogram:
    __slots__ = ("buckets", "total")

    def __init__(self, size: int) -> None:
        self.buckets = [0] * (size + 1)
        self.total = 0.0


# a record key's series: request count cell, the three histograms (None: dropped), and
# the objects the key holds by id
_Entry = tuple[
    tuple[list[int] | None, _Histogram | None, _Histogram | None, _Histogram | None],
    object,
    object,
    object,
]


class OverriddenSeries:
    """The series of records whose metrics a Telemetry policy changed."""

    def __init__(self) -> None:
        from ._metrics import ENVOY_BUCKETS

        self._bounds = ENVOY_BUCKETS
        self._lock = threading.Lock()
        self._counts: dict[Labels, list[int]] = {}  # labels -> [count]
        self._hists: tuple[dict[Labels, _Histogram], ...] = ({}, {}, {})
        self._values: dict[str, set[str]] = {}
        self._cache: dict[tuple[Any, ...], _Entry] = {}

    def _bounded(self, tag: str, value: str) -> str:
        seen = self._values.setdefault(tag, set())
        if value in seen:
            return value
        if len(seen) >= TAG_VALUE_LIMIT:
            return OVERFLOW
        seen.add(value)
        return value

    def observe(self, rec: RequestRecord, settings: ModeMetrics) -> None:
        """Count ``rec`` in every metric ``settings`` keeps, with its labels."""
        # the expressions' values first (a few attribute reads), then the label sets of
        # the four metrics from a cache keyed by everything the labels derive from
        values = tuple(
            rule.value(rec)
            for override in settings.overrides.values()
            for rule in override.tags
            if rule.value is not None
        )
        key = (label_key(rec), id(settings), values)
        entry = self._cache.get(key)
        if entry is None:
            entry = self._series_of(rec, settings, values)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache = {}
            self._cache[key] = entry
        count, duration, request, response = entry[0]
        ms = rec.duration * 1000.0
        bounds = self._bounds
        with self._lock:
            if count is not None:
                count[0] += 1
            if duration is not None:
                duration.buckets[bisect_left(bounds, ms)] += 1
                duration.total += ms
            if request is not None:
                request.buckets[bisect_left(bounds, rec.request_bytes)] += 1
                request.total += rec.request_bytes
            if response is not None:
                response.buckets[bisect_left(bounds, rec.response_bytes)] += 1
                response.total += rec.response_bytes

    def _series_of(
        self, rec: RequestRecord, settings: ModeMetrics, values: tuple[str, ...]
    ) -> _Entry:
        """Each metric's series for the record (None: dropped), and the objects the cache
        key holds by id, kept alive with it so that their ids cannot be reused meanwhile."""
        base = dict(zip(LABEL_NAMES, labels_of(rec), strict=True))
        it = iter(values)
        sets: list[Labels | None] = []
        for name in _NAMES:
            override = settings.overrides.get(name)
            if override is None:
                sets.append(tuple(base.items()))
                continue
            items = dict(base)
            for tag in override.tags:
                if tag.remove:
                    items.pop(tag.name, None)
                elif tag.value is not None:
                    items[tag.name] = self._bounded(tag.name, next(it))
            sets.append(None if override.disabled else tuple(items.items()))
        with self._lock:
            count = None if sets[0] is None else self._counts.setdefault(sets[0], [0])
            hists: list[_Histogram | None] = []
            for per, labels in zip(self._hists, sets[1:], strict=True):
                if labels is None:
                    hists.append(None)
                    continue
                hist = per.get(labels)
                if hist is None:
                    hist = per[labels] = _Histogram(len(self._bounds))
                hists.append(hist)
        return (
            (count, hists[0], hists[1], hists[2]),
            settings,
            rec.source_labels,
            rec.destination_labels,
        )

    def collect(self, total: Any, histograms: list[Any], bounds: list[str]) -> None:
        """Add the series to the scrape's families (``istio_requests`` and the three
        histograms, in that order), each sample with its own labels."""
        with self._lock:
            counts = [(labels, cell[0]) for labels, cell in self._counts.items()]
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
