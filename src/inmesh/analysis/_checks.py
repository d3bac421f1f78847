"""Cross-reference checks over a set of resources, with Istio's analyzer codes: the
analyzers by kind (:mod:`._virtual_services`, :mod:`._rules`, :mod:`._destination_rules`,
:mod:`._services`, :mod:`._gateways`, :mod:`._telemetry`), and inmesh's own INM0001
AllWeightsZero (a route whose weights are all zero) and INM0002 NotSupportedYet (what the
runtime would refuse: :func:`inmesh.config.unsupported_problems`, the same check and
wording as ``Mesh``).

As in ``istioctl analyze``, the resources are a cluster's worth of configuration: a later
resource with the same kind, namespace and name replaces an earlier one (Istio's file
source applies documents as ``kubectl apply`` would).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from .._errors import ConfigProblem
from ..config import unsupported_problems
from ..config._files import gc_paused
from . import _destination_rules as dr
from . import _gateways as gw
from . import _services as svc
from . import _telemetry as tel
from . import _virtual_services as vs
from ._index import Services, Workloads
from ._message import Level, Message, resource_label
from ._rules import unreachable_rules


def problem_message(problem: ConfigProblem, name: str, level: Level = "Error") -> Message:
    """A located :class:`ConfigProblem` as an analyzer message."""
    file = problem.file
    if file is not None and problem.document is not None:
        file = f"{file} document {problem.document}"
    details = f"{problem.field}: {problem.message}" if problem.field else problem.message
    if problem.code == "IST0106":
        details = f"Schema validation error: {details}"  # messages.yaml's template
    return Message(level, problem.code, name, problem.resource or "", details, file)


def unsupported(resources: Sequence[Any]) -> list[Message]:
    """INM0002: what the runtime cannot use yet, as it would say it."""
    return [
        problem_message(p, "NotSupportedYet") for r in resources for p in unsupported_problems(r)
    ]


def _all_weights_zero(r: Any) -> list[Message]:
    """INM0001: a rule that routes nothing (the schema refuses it in files; a registry's
    merged view can still produce one)."""
    msgs: list[Message] = []
    for i, route in enumerate(r.spec.http or ()):
        weights = [d.weight for d in route.route or ()]
        if len(weights) > 1 and all(not w for w in weights):
            msgs.append(
                Message(
                    "Error",
                    "INM0001",
                    "AllWeightsZero",
                    resource_label(r),
                    f"VirtualService rule #{i} routes nothing: every destination weight is zero.",
                )
            )
    return msgs


def resource_checks(
    r: Any,
    *,
    services: Services,
    subsets: Collection[tuple[str, str]],
    gateway_hosts: Mapping[tuple[str, str], Sequence[str]],
    splits: Mapping[str, Sequence[str]],
    workloads: Workloads | None,
) -> list[Message]:
    """The checks of one VirtualService or DestinationRule against the indexes of every
    resource (the rest of the analysis compares resources with one another)."""
    msgs: list[Message] = []
    if r.kind == "VirtualService":
        msgs.extend(vs.gateways(r, gateway_hosts))
        msgs.extend(vs.destinations(r, services, subsets))
        msgs.extend(vs.ingress_subsets(r, splits))
        msgs.extend(unreachable_rules(r.spec, resource_label(r)))
        msgs.extend(_all_weights_zero(r))
    elif r.kind == "DestinationRule":
        msgs.extend(dr.subsets_select(r, services, workloads))
        msgs.extend(dr.ca_certificates(r))
    return msgs


def check(
    resources: Sequence[Any], *, complete: bool = False, focus: Collection[str] | None = None
) -> list[Message]:
    """Every cross-reference problem in ``resources``.

    ``complete``: the resources are the whole configuration, workloads included (a file
    analysis, as ``istioctl analyze`` assumes), so a subset is checked against the
    workloads described even when there are none; otherwise (a registry's mesh resources)
    only when some are. ``focus``: only the resources with these labels (``Kind ns/name``)
    are checked one by one (what a registry's apply changed); the checks across resources
    still see every resource, and may report others too."""
    with gc_paused():  # indexes and messages: many objects, no cycles
        return _check(resources, complete, focus)


def _check(
    resources: Sequence[Any], complete: bool, focus: Collection[str] | None
) -> list[Message]:
    resources = list({(r.kind, r.namespace, r.name): r for r in resources}.values())
    chosen = resources if focus is None else [r for r in resources if resource_label(r) in focus]
    msgs: list[Message] = unsupported(chosen)
    services = Services.of(resources)
    subsets = vs.subsets_of(resources)
    gateway_hosts = vs.gateway_hosts_of(resources)
    described = dr.workload_labels(resources)
    workloads = described if described or complete else None
    splits = vs.subset_splits(resources)
    for r in chosen:
        msgs.extend(
            resource_checks(
                r,
                services=services,
                subsets=subsets,
                gateway_hosts=gateway_hosts,
                splits=splits,
                workloads=workloads,
            )
        )
    msgs.extend(vs.mesh_host_conflicts(resources))
    msgs.extend(svc.check_services(resources))
    msgs.extend(gw.check_gateways(resources))
    telemetry_workloads = tel.workloads_by_namespace(resources)
    msgs.extend(tel.check_telemetries(resources, telemetry_workloads or ([] if complete else None)))
    return msgs
