"""Istio's Telemetry analyzers (pkg/config/analysis/analyzers/telemetry):

- ``DefaultSelectorAnalyzer``: IST0160 MultipleTelemetriesWithoutWorkloadSelectors, more
  than one Telemetry without a ``selector`` in a namespace (which one applies is then up
  to creation times);
- ``SelectorAnalyzer``: IST0101 a ``selector`` that matches no workload of its namespace,
  and IST0159 ConflictingTelemetryWorkloadSelectors, a workload selected by several.

The workloads are those the configuration describes (WorkloadEntries, ServiceEntry
endpoints, Deployments), in their namespaces; with none known the selector checks are
skipped, as for a registry's mesh resources.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._namespaces import selects
from ._message import Message, resource_label

__all__ = ["check_telemetries", "workloads_by_namespace", "workloads_of"]


def workloads_by_namespace(resources: Sequence[Any]) -> list[tuple[str, str, Mapping[str, str]]]:
    """(namespace, name, labels) of every workload the configuration describes."""
    return [w for r in resources for w in workloads_of(r)]


def workloads_of(r: Any) -> list[tuple[str, str, Mapping[str, str]]]:
    """(namespace, name, labels) of each workload one resource describes."""
    if r.kind == "WorkloadEntry":
        return [(r.namespace, r.name, dict(r.spec.labels or {}))]
    if r.kind == "ServiceEntry":
        return [
            (r.namespace, f"{r.name}[{i}]", dict(e.labels or {}))
            for i, e in enumerate(r.spec.endpoints or ())
        ]
    if r.kind == "Deployment":
        return [(r.namespace, r.name, dict(r.pod_labels))]
    return []


def _go_list(names: Sequence[str]) -> str:
    return "[" + " ".join(sorted(names)) + "]"  # Go's %v of a []string


def _selector(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))  # labels.Selector.String


def check_telemetries(
    resources: Sequence[Any], workloads: Sequence[tuple[str, str, Mapping[str, str]]] | None
) -> list[Message]:
    """IST0160, IST0101 and IST0159 over the Telemetry resources (``workloads`` None: not
    known, no selector checks)."""
    telemetries = [r for r in resources if r.kind == "Telemetry"]
    msgs: list[Message] = []
    unselected: dict[str, list[Any]] = {}
    for t in telemetries:
        if t.spec.selector is None:
            unselected.setdefault(t.namespace, []).append(t)
    for ns, group in unselected.items():
        if len(group) > 1:
            names = _go_list([t.name for t in group])
            for t in group:
                msgs.append(
                    Message(
                        "Error",
                        "IST0160",
                        "MultipleTelemetriesWithoutWorkloadSelectors",
                        resource_label(t),
                        f'The Telemetries {names} in namespace "{ns}" have no workload '
                        "selector, which can lead to undefined behavior.",
                    )
                )
    if workloads is None:
        return msgs
    selected: dict[tuple[str, str], list[Any]] = {}
    for t in telemetries:
        match = t.spec.selector.match_labels if t.spec.selector is not None else {}
        if not match:
            continue
        found = [
            (ns, name)
            for ns, name, labels in workloads
            if ns == t.namespace and selects(match, labels)
        ]
        for key in found:
            selected.setdefault(key, []).append(t)
        if not found:
            msgs.append(
                Message(
                    "Error",
                    "IST0101",
                    "ReferencedResourceNotFound",
                    resource_label(t),
                    f'Referenced selector not found: "{_selector(match)}"',
                )
            )
    for (ns, workload), group in selected.items():
        if len(group) > 1:
            names = _go_list([t.name for t in group])
            for t in group:
                msgs.append(
                    Message(
                        "Error",
                        "IST0159",
                        "ConflictingTelemetryWorkloadSelectors",
                        resource_label(t),
                        f'The Telemetries {names} in namespace "{ns}" select the same '
                        f'workload pod "{workload}", which can lead to undefined behavior.',
                    )
                )
    return msgs
