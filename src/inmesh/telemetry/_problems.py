"""What the runtime refuses in a Telemetry resource, beyond the support table.

The support table (:mod:`inmesh.config._support`) calls :func:`telemetry_problems` for
each Telemetry resource, so ``Mesh``, ``inmesh analyze`` and the registry refuse the same
things by name: a provider other than the built-in ones (Istio finds providers by name,
case-insensitively), CEL outside the subset (:mod:`._cel`), a metric inmesh does not
produce, a tag name that is not a Prometheus label name.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._cel import CelError, compile_filter, compile_tag_value
from ._policy import ACCESS_LOG_PROVIDER, METRICS, METRICS_PROVIDER, TRACING_PROVIDER

__all__ = ["telemetry_problems"]

_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _providers(entries: Iterable[Any], allowed: str, loc: tuple[Any, ...]) -> list[tuple[Any, str]]:
    out = []
    for i, entry in enumerate(entries):
        for j, p in enumerate(entry.providers):
            if p.name.lower() != allowed:  # Istio finds providers case-insensitively
                out.append(
                    (
                        (*loc, i, "providers", j, "name"),
                        f"provider {p.name!r} is not supported yet (the built-in provider is "
                        f"{allowed!r})",
                    )
                )
    return out


def telemetry_problems(resource: Any) -> list[tuple[tuple[Any, ...], str]]:
    """(field path, message) for everything in a Telemetry resource the runtime cannot
    honour beyond the support table: unknown providers, CEL outside the subset
    (:mod:`inmesh.telemetry._cel`), metrics inmesh does not produce, and tag names that
    are not valid Prometheus label names."""
    spec = resource.spec
    out = _providers(spec.metrics, METRICS_PROVIDER, ("spec", "metrics"))
    out += _providers(spec.tracing, TRACING_PROVIDER, ("spec", "tracing"))
    out += _providers(spec.access_logging, ACCESS_LOG_PROVIDER, ("spec", "accessLogging"))
    for i, m in enumerate(spec.metrics):
        for j, o in enumerate(m.overrides):
            loc = ("spec", "metrics", i, "overrides", j)
            metric = o.match.metric if o.match is not None else None
            if metric is not None and metric != "ALL_METRICS" and metric not in METRICS:
                out.append(
                    (
                        (*loc, "match", "metric"),
                        f"metric {metric} is not supported yet (inmesh has HTTP metrics only)",
                    )
                )
            for name, tag in (o.tag_overrides or {}).items():
                tloc = (*loc, "tagOverrides", name)
                if not _valid_label(name):
                    out.append((tloc, f"tag {name!r} is not a valid Prometheus label name"))
                if (tag.operation or "UPSERT") == "UPSERT" and tag.value:
                    try:
                        compile_tag_value(tag.value)
                    except CelError as exc:
                        out.append(((*tloc, "value"), f"{tag.value!r}: {exc}"))
    for i, a in enumerate(spec.access_logging):
        if a.filter is not None and a.filter.expression:
            try:
                compile_filter(a.filter.expression)
            except CelError as exc:
                where = ("spec", "accessLogging", i, "filter", "expression")
                out.append((where, f"{a.filter.expression!r}: {exc}"))
    return out


def _valid_label(name: str) -> bool:
    return (
        bool(name)
        and not name[0].isdigit()
        and not name.startswith("__")
        and all(c in _LABEL_CHARS for c in name)
    )
