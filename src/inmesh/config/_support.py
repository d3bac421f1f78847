"""What the runtime does with each Istio field: one table for the docs and the runtime.

Every field has a status. A field without an entry in :data:`FIELD_STATUS` has the status
of the field that contains it (the kind's status at ``spec``). The runtime refuses
configuration that sets a field whose status is :data:`UNSUPPORTED` (see
:func:`unsupported_problems`); ``docs/configuration.md`` is generated from the same table
(:mod:`inmesh.config._reference`), so the two cannot disagree.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from inmesh._errors import ConfigProblem
from inmesh.config._base import Loc, format_loc
from inmesh.config._destination_rule import DestinationRuleSpec
from inmesh.config._gateway import GatewaySpec
from inmesh.config._http_parts import FaultAbort, FaultDelay, HTTPRetry
from inmesh.config._http_route import HTTPMatchRequest, HTTPRedirect, HTTPRoute
from inmesh.config._kube import KubeDeploymentSpec, KubeServiceSpec
from inmesh.config._load_balancer import LoadBalancerSettings
from inmesh.config._security import AuthorizationPolicySpec, PeerAuthenticationSpec
from inmesh.config._service_entry import ServiceEntrySpec, WorkloadEntrySpec
from inmesh.config._traffic_policy import (
    ClientTLSSettings,
    HTTPSettings,
    OutlierDetection,
    PortTrafficPolicy,
    TCPSettings,
    TrafficPolicy,
)
from inmesh.config._virtual_service import VirtualServiceSpec

__all__ = [
    "FIELD_STATUS",
    "KIND_SPECS",
    "NO_EFFECT",
    "RESILIENCE",
    "SECURITY",
    "SUPPORTED",
    "UNSUPPORTED",
    "UNSUPPORTED_FIELDS",
    "UNSUPPORTED_VALUES",
    "FieldRow",
    "field_rows",
    "unsupported_problems",
]

SUPPORTED = "supported"
RESILIENCE = "supported (resilience)"
SECURITY = "validated; enforced by the security layer"
UNSUPPORTED = "not supported yet"
NO_EFFECT = "validated; no effect in-process"
KUBE = "read by the service registry"

#: kind -> (spec model, the status of its fields unless FIELD_STATUS says otherwise)
KIND_SPECS: Mapping[str, tuple[type[BaseModel], str]] = {
    "VirtualService": (VirtualServiceSpec, SUPPORTED),
    "DestinationRule": (DestinationRuleSpec, SUPPORTED),
    "ServiceEntry": (ServiceEntrySpec, SUPPORTED),
    "WorkloadEntry": (WorkloadEntrySpec, SUPPORTED),
    # An in-process mesh has no gateway; VirtualServices bound only to gateways are skipped.
    "Gateway": (GatewaySpec, NO_EFFECT),
    # Validated by load_config and `inmesh analyze`; a Mesh refuses them until the security
    # layer enforces them (an authorization policy silently not enforced would be worse).
    "PeerAuthentication": (PeerAuthenticationSpec, UNSUPPORTED),
    "AuthorizationPolicy": (AuthorizationPolicySpec, UNSUPPORTED),
    "Service": (KubeServiceSpec, KUBE),
    "Deployment": (KubeDeploymentSpec, KUBE),
}

_RESILIENCE_ROUTE = (
    "timeout",
    "retries",
    "fault",
    "mirror",
    "mirrors",
    "mirrorPercent",
    "mirrorPercentage",
)
#: (message class, camelCase field) -> status, for fields whose status differs from their parent.
FIELD_STATUS: Mapping[tuple[type[BaseModel], str], str] = {
    (VirtualServiceSpec, "tls"): UNSUPPORTED,
    (VirtualServiceSpec, "tcp"): UNSUPPORTED,
    (HTTPRoute, "corsPolicy"): UNSUPPORTED,
    (HTTPRoute, "delegate"): UNSUPPORTED,
    (HTTPRoute, "directResponse"): UNSUPPORTED,
    **{(HTTPRoute, name): RESILIENCE for name in _RESILIENCE_ROUTE},
    (HTTPRetry, "retryRemoteLocalities"): UNSUPPORTED,
    (FaultDelay, "exponentialDelay"): UNSUPPORTED,
    (FaultAbort, "grpcStatus"): UNSUPPORTED,
    (FaultAbort, "http2Error"): UNSUPPORTED,
    (HTTPRedirect, "prefixRewrite"): UNSUPPORTED,
    (HTTPMatchRequest, "statPrefix"): NO_EFFECT,
    (TrafficPolicy, "connectionPool"): RESILIENCE,
    (TrafficPolicy, "outlierDetection"): RESILIENCE,
    (TrafficPolicy, "retryBudget"): RESILIENCE,
    (TrafficPolicy, "tunnel"): UNSUPPORTED,
    (TrafficPolicy, "proxyProtocol"): UNSUPPORTED,
    (PortTrafficPolicy, "connectionPool"): RESILIENCE,
    (PortTrafficPolicy, "outlierDetection"): RESILIENCE,
    # TLS origination: DISABLE, SIMPLE and MUTUAL with certificate files are supported;
    # ISTIO_MUTUAL waits for the mesh CA (UNSUPPORTED_VALUES).
    (ClientTLSSettings, "credentialName"): UNSUPPORTED,
    (ClientTLSSettings, "subjectAltNames"): UNSUPPORTED,
    (ClientTLSSettings, "caCrl"): UNSUPPORTED,
    (TCPSettings, "tcpKeepalive"): UNSUPPORTED,
    (TCPSettings, "maxConnectionDuration"): UNSUPPORTED,
    (TCPSettings, "idleTimeout"): UNSUPPORTED,
    # maxRequestsPerConnection: 1 (no keep-alive) is supported; above 1 the Mesh refuses it
    (HTTPSettings, "h2UpgradePolicy"): UNSUPPORTED,
    (HTTPSettings, "useClientProtocol"): UNSUPPORTED,
    (HTTPSettings, "maxConcurrentStreams"): UNSUPPORTED,
    (HTTPSettings, "http2KeepAlive"): UNSUPPORTED,
    (OutlierDetection, "consecutiveErrors"): UNSUPPORTED,
    (OutlierDetection, "outlierDetectionHttpErrorCodes"): UNSUPPORTED,
    (LoadBalancerSettings, "warmup"): UNSUPPORTED,
    (LoadBalancerSettings, "warmupDurationSecs"): UNSUPPORTED,
    (LoadBalancerSettings, "zoneAwareLbSetting"): UNSUPPORTED,
    (ServiceEntrySpec, "subjectAltNames"): UNSUPPORTED,
    (WorkloadEntrySpec, "serviceAccount"): SECURITY,
}

_TLS_MODES = (
    "spec.trafficPolicy.tls.mode",
    "spec.trafficPolicy.portLevelSettings[].tls.mode",
    "spec.subsets[].trafficPolicy.tls.mode",
    "spec.subsets[].trafficPolicy.portLevelSettings[].tls.mode",
)
_LB_SIMPLE = (
    "spec.trafficPolicy.loadBalancer.simple",
    "spec.trafficPolicy.portLevelSettings[].loadBalancer.simple",
    "spec.subsets[].trafficPolicy.loadBalancer.simple",
    "spec.subsets[].trafficPolicy.portLevelSettings[].loadBalancer.simple",
)

#: kind -> (field path, value) pairs the runtime refuses although the field is supported.
UNSUPPORTED_VALUES: Mapping[str, tuple[tuple[str, str], ...]] = {
    "ServiceEntry": (("spec.resolution", "DYNAMIC_DNS"),),
    "DestinationRule": (
        *((path, "ISTIO_MUTUAL") for path in _TLS_MODES),
        *((path, "PASSTHROUGH") for path in _LB_SIMPLE),
    ),
}


@dataclass(frozen=True, slots=True)
class FieldRow:
    """One field of a kind: its dotted camelCase path, type, status, and the model below it."""

    path: str
    type_name: str
    status: str
    model: type[BaseModel] | None = None
    same_as: str | None = None


def _strip(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return _strip(args[0])
    return annotation


def _is_duration(annotation: Any, field: FieldInfo | None = None) -> bool:
    metadata = list(field.metadata) if field is not None else []
    stack = [annotation]
    while stack:
        current = stack.pop()
        if typing.get_origin(current) is typing.Annotated:
            metadata.extend(typing.get_args(current)[1:])
            stack.append(typing.get_args(current)[0])
        else:
            stack.extend(typing.get_args(current))
    return any("duration" in getattr(getattr(m, "func", None), "__name__", "") for m in metadata)


def describe_type(annotation: Any, field: FieldInfo | None = None) -> tuple[str, str, Any]:
    """(rendered type, path suffix, inner type): ``[]`` for lists, ``.*`` for maps."""
    if _is_duration(annotation, field):
        return "duration", "", None
    inner = _strip(annotation)
    if inner is Any:  # repr differs across Python versions ("typing.Any" vs "Any")
        return "Any", "", None
    origin = typing.get_origin(inner)
    if origin is tuple:
        name, _, _ = describe_type(typing.get_args(inner)[0])
        return f"[]{name}", "[]", _strip(typing.get_args(inner)[0])
    if origin in (Mapping, dict, typing.get_origin(Mapping[str, str])):
        key, value = typing.get_args(inner)
        name, _, _ = describe_type(value)
        return f"map<{describe_type(key)[0]}, {name}>", ".*", _strip(value)
    if origin is typing.Literal:
        return "enum: " + ", ".join(str(a) for a in typing.get_args(inner)), "", None
    if isinstance(inner, type):
        simple = {str: "string", int: "int", float: "float", bool: "bool"}
        return simple.get(inner, inner.__name__), "", inner
    args = [describe_type(a)[0] for a in typing.get_args(inner) if a is not type(None)]
    return " | ".join(args) or str(inner), "", None


def _walk(
    model: type[BaseModel],
    path: str,
    status: str,
    rows: list[FieldRow],
    seen: dict[tuple[type[BaseModel], str], str] | None,
) -> None:
    for name, field in model.model_fields.items():
        alias = field.alias or name
        field_status = FIELD_STATUS.get((model, alias), status)
        here = f"{path}.{alias}"
        rendered, suffix, inner = describe_type(field.annotation, field)
        sub = inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None
        if sub is None:
            rows.append(FieldRow(here, rendered, field_status))
            continue
        if seen is not None and (sub, field_status) in seen:
            rows.append(FieldRow(here, rendered, field_status, sub, seen[(sub, field_status)]))
            continue
        if seen is not None:
            seen[(sub, field_status)] = here + suffix
        rows.append(FieldRow(here, rendered, field_status, sub))
        _walk(sub, here + suffix, field_status, rows, seen)


def field_rows(kind: str, *, collapse: bool = True) -> list[FieldRow]:
    """Every field of ``kind`` below ``spec``; with ``collapse`` a message already listed
    with the same status is referred to (``same_as``) instead of listed again."""
    spec, status = KIND_SPECS[kind]
    rows: list[FieldRow] = []
    _walk(spec, "spec", status, rows, {} if collapse else None)
    return rows


def _unsupported_paths(kind: str) -> tuple[str, ...]:
    rows = field_rows(kind, collapse=False)
    paths = [r.path for r in rows if r.status == UNSUPPORTED]
    # a field under an unsupported field is covered by it
    return tuple(p for p in paths if not any(_below(p, q) for q in paths))


def _below(path: str, ancestor: str) -> bool:
    return path.startswith((ancestor + ".", ancestor + "["))


#: kind -> dotted camelCase paths (``spec.http[].corsPolicy``) the runtime rejects.
UNSUPPORTED_FIELDS: dict[str, tuple[str, ...]] = {
    kind: paths for kind in KIND_SPECS if (paths := _unsupported_paths(kind))
}


def _segments(path: str) -> list[str]:
    out: list[str] = []
    for part in path.split("."):
        if part.endswith("[]"):
            out.extend((part[:-2], "[]"))
        else:
            out.append(part)
    return out


def _find(value: Any, segments: list[str], loc: Loc) -> Iterator[tuple[Loc, Any]]:
    """Values at ``segments`` (``[]`` = every list item, ``*`` = every map value) in ``value``."""
    if not segments:
        yield loc, value
        return
    head, rest = segments[0], segments[1:]
    if head == "[]" and isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _find(item, rest, (*loc, i))
    elif head == "*" and isinstance(value, Mapping):
        for key, item in value.items():
            yield from _find(item, rest, (*loc, str(key)))
    elif isinstance(value, Mapping) and head in value:
        yield from _find(value[head], rest, (*loc, head))


def _is_set(value: Any) -> bool:
    return value is not None and value != () and value != [] and value != {}


def unsupported_problems(
    resource: Any, *, file: str | None = None, document: int | None = None
) -> list[ConfigProblem]:
    """One problem ("<field> is not supported yet") per field the runtime rejects that is set
    in ``resource``; the list is empty for anything the runtime fully handles."""
    kind = getattr(resource, "kind", None)
    if not isinstance(kind, str) or not isinstance(resource, BaseModel):
        return []
    paths, values = UNSUPPORTED_FIELDS.get(kind, ()), UNSUPPORTED_VALUES.get(kind, ())
    if not paths and not values:
        return []
    data = resource.model_dump(by_alias=True, exclude_none=True)

    def problem(message: str, loc: Loc) -> ConfigProblem:
        return ConfigProblem(
            message,
            file=file,
            document=document,
            kind=kind,
            namespace=getattr(resource, "namespace", None),
            name=getattr(resource, "name", None),
            field=format_loc(loc),
        )

    problems: list[ConfigProblem] = []
    for path in paths:
        for loc, value in _find(data, _segments(path), ()):
            if _is_set(value):
                problems.append(problem(f"{loc[-1]} is not supported yet", loc))
    for path, bad in values:
        for loc, value in _find(data, _segments(path), ()):
            if value == bad:
                problems.append(problem(f"{loc[-1]} {bad} is not supported yet", loc))
    return problems
