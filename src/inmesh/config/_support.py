"""What the runtime does with each Istio field: one table for the docs, the runtime and analysis.

Every field has a status. A field without an entry in :data:`FIELD_STATUS` has the status
of the field that contains it (the kind's status at ``spec``). :func:`unsupported_problems`
is the one check of "can the runtime use this resource": ``Mesh`` refuses what it reports,
``inmesh analyze`` reports it as an Error (``INM0002``), and so the registry refuses it at
apply. It covers whole kinds (:data:`UNSUPPORTED_KINDS`), fields whose status is
:data:`UNSUPPORTED`, and values of supported fields (:data:`UNSUPPORTED_VALUES`); the loader
refuses the mesh kinds inmesh does not model with :func:`unsupported_kind_message`.
``docs/configuration.md`` is generated from the same table (:mod:`inmesh.config._reference`,
over the field rows of :mod:`inmesh.config._field_rows`), so the two cannot disagree.

This module imports no model: the tables name messages by class name, and a kind's models
are imported only when that kind is checked.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from inmesh._errors import ConfigProblem
from inmesh.config._loc import Loc, format_loc

if TYPE_CHECKING:
    pass

__all__ = [
    "FIELD_STATUS",
    "KIND_STATUS",
    "NO_EFFECT",
    "RESILIENCE",
    "SECURITY",
    "SUPPORTED",
    "SUPPORT_CODE",
    "UNMODELLED_KINDS",
    "UNSUPPORTED",
    "UNSUPPORTED_KINDS",
    "UNSUPPORTED_VALUES",
    "Above",
    "unsupported_fields",
    "unsupported_kind_message",
    "unsupported_problems",
]

#: The analyzer code of "not supported yet" (inmesh's own; Istio supports these).
SUPPORT_CODE = "INM0002"

SUPPORTED = "supported"
RESILIENCE = "supported (resilience)"
SECURITY = "validated; enforced by the security layer"
UNSUPPORTED = "not supported yet"
NO_EFFECT = "validated; no effect in-process"
KUBE = "read by the service registry"

#: kind -> the status of its ``spec`` fields unless FIELD_STATUS says otherwise
KIND_STATUS: Mapping[str, str] = {
    "VirtualService": SUPPORTED,
    "DestinationRule": SUPPORTED,
    "ServiceEntry": SUPPORTED,
    "WorkloadEntry": SUPPORTED,
    # An in-process mesh has no gateway; VirtualServices bound only to gateways are skipped.
    "Gateway": NO_EFFECT,
    # The workload's scope: what it imports (routing/_scope.py)
    "Sidecar": SUPPORTED,
    # Enforced inbound: the mesh listener (PeerAuthentication, per connection) and
    # MeshMiddleware (AuthorizationPolicy); what the evaluator cannot enforce yet is refused
    # by its compiler (see unsupported_problems).
    "PeerAuthentication": SECURITY,
    "AuthorizationPolicy": SECURITY,
    # Metrics overrides, access logging and tracing settings (inmesh.telemetry._policy);
    # providers and CEL expressions it cannot honour are refused by its checks.
    "Telemetry": SUPPORTED,
    "Service": KUBE,
    "Deployment": KUBE,
}

#: kind -> why every resource of that kind is refused, whatever its fields: none today.
#: (Security kinds were refused whole until they were enforced: security configuration
#: accepted and not enforced would silently weaken the mesh.)
UNSUPPORTED_KINDS: Mapping[str, str] = {}

#: API group -> the kinds of that group inmesh does not model yet, refused by name.
UNMODELLED_KINDS: Mapping[str, tuple[str, ...]] = {
    "networking.istio.io": ("EnvoyFilter", "ProxyConfig", "WorkloadGroup"),
    "security.istio.io": ("RequestAuthentication",),
    "extensions.istio.io": ("WasmPlugin",),
    "gateway.networking.k8s.io": (
        "BackendTLSPolicy",
        "GRPCRoute",
        "Gateway",
        "GatewayClass",
        "HTTPRoute",
        "ReferenceGrant",
        "TCPRoute",
        "TLSRoute",
        "UDPRoute",
    ),
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
#: (message class name, camelCase field) -> status, where it differs from the parent field.
FIELD_STATUS: Mapping[tuple[str, str], str] = {
    ("VirtualServiceSpec", "tls"): UNSUPPORTED,
    ("VirtualServiceSpec", "tcp"): UNSUPPORTED,
    ("HTTPRoute", "corsPolicy"): UNSUPPORTED,
    ("HTTPRoute", "delegate"): UNSUPPORTED,
    ("HTTPRoute", "directResponse"): UNSUPPORTED,
    **{("HTTPRoute", name): RESILIENCE for name in _RESILIENCE_ROUTE},
    ("HTTPRetry", "retryRemoteLocalities"): UNSUPPORTED,
    ("FaultDelay", "exponentialDelay"): UNSUPPORTED,
    ("FaultAbort", "grpcStatus"): UNSUPPORTED,
    ("FaultAbort", "http2Error"): UNSUPPORTED,
    ("HTTPRedirect", "prefixRewrite"): UNSUPPORTED,
    ("HTTPMatchRequest", "statPrefix"): NO_EFFECT,
    ("TrafficPolicy", "connectionPool"): RESILIENCE,
    ("TrafficPolicy", "outlierDetection"): RESILIENCE,
    ("TrafficPolicy", "retryBudget"): RESILIENCE,
    ("TrafficPolicy", "tunnel"): UNSUPPORTED,
    ("TrafficPolicy", "proxyProtocol"): UNSUPPORTED,
    ("PortTrafficPolicy", "connectionPool"): RESILIENCE,
    ("PortTrafficPolicy", "outlierDetection"): RESILIENCE,
    # TLS: DISABLE, SIMPLE and MUTUAL (origination with certificate files) and ISTIO_MUTUAL
    # (the workload certificate, the server checked by its SPIFFE identity).
    ("ClientTLSSettings", "credentialName"): UNSUPPORTED,
    ("ClientTLSSettings", "subjectAltNames"): UNSUPPORTED,
    ("ClientTLSSettings", "caCrl"): UNSUPPORTED,
    ("TCPSettings", "tcpKeepalive"): UNSUPPORTED,
    ("TCPSettings", "maxConnectionDuration"): UNSUPPORTED,
    ("TCPSettings", "idleTimeout"): UNSUPPORTED,
    # maxRequestsPerConnection: 1 (no keep-alive) is supported; above 1 is not (UNSUPPORTED_VALUES)
    ("HTTPSettings", "h2UpgradePolicy"): UNSUPPORTED,
    ("HTTPSettings", "useClientProtocol"): UNSUPPORTED,
    ("HTTPSettings", "maxConcurrentStreams"): UNSUPPORTED,
    ("HTTPSettings", "http2KeepAlive"): UNSUPPORTED,
    ("OutlierDetection", "consecutiveErrors"): UNSUPPORTED,
    ("OutlierDetection", "outlierDetectionHttpErrorCodes"): UNSUPPORTED,
    ("LoadBalancerSettings", "warmup"): UNSUPPORTED,
    ("LoadBalancerSettings", "warmupDurationSecs"): UNSUPPORTED,
    ("LoadBalancerSettings", "zoneAwareLbSetting"): UNSUPPORTED,
    # the identities a ServiceEntry's workloads may present to a mesh mTLS client
    ("ServiceEntrySpec", "subjectAltNames"): SUPPORTED,
    ("WorkloadEntrySpec", "serviceAccount"): SUPPORTED,
    # Telemetry: no gateways or waypoints in-process to attach to
    ("TelemetrySpec", "targetRef"): UNSUPPORTED,
    ("TelemetrySpec", "targetRefs"): UNSUPPORTED,
    ("Metrics", "reportingInterval"): UNSUPPORTED,  # Istio: TCP metrics only
    ("MetricSelector", "customMetric"): UNSUPPORTED,
    ("Tracing", "useRequestIdForTraceSampling"): UNSUPPORTED,
    ("Tracing", "enableIstioTags"): UNSUPPORTED,
    ("Tracing", "disableContextPropagation"): UNSUPPORTED,
    ("CustomTag", "formatter"): UNSUPPORTED,
    # Sidecar: egress hosts and port, workloadSelector and outboundTrafficPolicy.mode scope
    # what a workload compiles; there is no listener to bind, capture or pool in-process.
    ("SidecarPort", "name"): NO_EFFECT,
    ("SidecarSpec", "ingress"): UNSUPPORTED,
    ("SidecarSpec", "inboundConnectionPool"): UNSUPPORTED,
    ("IstioEgressListener", "bind"): UNSUPPORTED,
    ("IstioEgressListener", "captureMode"): UNSUPPORTED,
    ("OutboundTrafficPolicy", "egressProxy"): UNSUPPORTED,
}


def _in_every_policy(suffix: str) -> tuple[str, ...]:
    """``suffix`` under each traffic policy of a DestinationRule (top, port, subset)."""
    return tuple(
        f"{policy}.{suffix}"
        for policy in (
            "spec.trafficPolicy",
            "spec.trafficPolicy.portLevelSettings[]",
            "spec.subsets[].trafficPolicy",
            "spec.subsets[].trafficPolicy.portLevelSettings[]",
        )
    )


@dataclass(frozen=True, slots=True)
class Above:
    """An integer value above ``limit`` (``maxRequestsPerConnection: 2``)."""

    limit: int

    def __str__(self) -> str:
        return f"above {self.limit}"

    def refuses(self, value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value > self.limit


#: kind -> (field path, value) pairs the runtime refuses although the field is supported:
#: a string is refused when equal, an :class:`Above` when the number is greater.
UNSUPPORTED_VALUES: Mapping[str, tuple[tuple[str, str | Above], ...]] = {
    "ServiceEntry": (("spec.resolution", "DYNAMIC_DNS"),),
    "DestinationRule": (
        *((path, "PASSTHROUGH") for path in _in_every_policy("loadBalancer.simple")),
        # httpcore's pool cannot retire a connection after N requests; 1 (no reuse) it can,
        # by keeping no connection alive.
        *(
            (path, Above(1))
            for path in _in_every_policy("connectionPool.http.maxRequestsPerConnection")
        ),
    ),
}


def _below(path: str, ancestor: str) -> bool:
    return path.startswith((ancestor + ".", ancestor + "["))


@functools.cache
def unsupported_fields(kind: str) -> tuple[str, ...]:
    """Dotted camelCase paths (``spec.http[].corsPolicy``) of ``kind`` the runtime refuses."""
    if kind not in KIND_STATUS:
        return ()
    from inmesh.config._field_rows import field_rows

    paths = [r.path for r in field_rows(kind, collapse=False) if r.status == UNSUPPORTED]
    # a field under an unsupported field is covered by it
    return tuple(p for p in paths if not any(_below(p, q) for q in paths))


def unsupported_kind_message(group: str, kind: str) -> str | None:
    """ "<kind> is not supported yet" for a mesh kind inmesh does not model (by API group),
    else ``None``."""
    if kind not in UNMODELLED_KINDS.get(group, ()):
        return None
    if group.startswith("gateway."):
        return f"{kind} ({group}, the Gateway API) is not supported yet"
    return f"{kind} is not supported yet"


def __getattr__(name: str) -> Any:
    if name == "UNSUPPORTED_FIELDS":
        # kind -> paths the runtime rejects; computed on first use (it imports every model)
        return {kind: paths for kind in KIND_STATUS if (paths := unsupported_fields(kind))}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _is_set(value: Any) -> bool:
    return value is not None and value != () and value != [] and value != {}


def unsupported_problems(
    resource: Any, *, file: str | None = None, document: int | None = None
) -> list[ConfigProblem]:
    """Why the runtime cannot use ``resource``: one problem for a kind it refuses whole,
    else one per unsupported field set ("<field> is not supported yet") and per unsupported
    value ("mode ISTIO_MUTUAL is not supported yet"). Empty for anything it fully handles.

    The problems carry :data:`SUPPORT_CODE`; their messages are what ``Mesh`` raises and
    what ``inmesh analyze`` (and so the registry's apply) reports.
    """
    kind = getattr(resource, "kind", None)
    if not isinstance(kind, str) or not hasattr(resource, "model_dump"):
        return []

    def problem(message: str, loc: Loc = ()) -> ConfigProblem:
        # where the resource came from, looked up only for a problem (most have none)
        where = (file, document)
        if file is None and document is None:
            where = getattr(resource, "origin", (None, None))
        return ConfigProblem(
            message,
            file=where[0],
            document=where[1],
            kind=kind,
            namespace=getattr(resource, "namespace", None),
            name=getattr(resource, "name", None),
            field=format_loc(loc) or None,
            code=SUPPORT_CODE,
        )

    if kind in UNSUPPORTED_KINDS:
        return [problem(f"{kind} is not supported yet: {UNSUPPORTED_KINDS[kind]}")]
    if kind == "AuthorizationPolicy":
        # One home for what authorization can enforce: the evaluator's compiler refuses
        # by name what it cannot (CUSTOM, targetRef(s), requestPrincipals, request.auth.*)
        if file is None and document is None:
            file, document = getattr(resource, "origin", (None, None))
        return _authorization_problems(resource, file=file, document=document)
    problems: list[ConfigProblem] = []
    if kind == "Telemetry":
        # providers, CEL expressions, metrics and tag names: the policy compiler's checks
        from inmesh.telemetry._problems import telemetry_problems

        problems.extend(problem(message, loc) for loc, message in telemetry_problems(resource))
    paths, values = unsupported_fields(kind), UNSUPPORTED_VALUES.get(kind, ())
    if not paths and not values:
        return problems
    # One walk of the model over every path (_model_paths), not a dump and a walk per path;
    # the problems come out path by path, in the table's order, as they always have.
    found: dict[int, list[tuple[Loc, Any]]] = {}
    for tag, loc, value in _paths_of(kind).find(resource):
        found.setdefault(tag, []).append((loc, value))
    for tag in sorted(found):  # the fields' paths first, then the values', as tagged
        if tag < len(paths):
            for loc, value in found[tag]:
                if _is_set(value):
                    problems.append(problem(f"{loc[-1]} is not supported yet", loc))
            continue
        bad = values[tag - len(paths)][1]
        for loc, value in found[tag]:
            if bad.refuses(value) if isinstance(bad, Above) else value == bad:
                problems.append(problem(f"{loc[-1]} {bad} is not supported yet", loc))
    return problems


@functools.cache
def _paths_of(kind: str) -> Any:
    """The unsupported field and value paths of ``kind`` as one tree, tagged by their
    position (fields first, then values)."""
    from inmesh.config._model_paths import path_tree

    paths = list(unsupported_fields(kind))
    paths += [p for p, _ in UNSUPPORTED_VALUES.get(kind, ())]
    return path_tree((p, i) for i, p in enumerate(paths))


def _authorization_problems(
    resource: Any, *, file: str | None, document: int | None
) -> list[ConfigProblem]:
    from dataclasses import replace

    from inmesh.security._authz_compile import Emitter
    from inmesh.security._authz_policy import compile_policy

    problems: list[ConfigProblem] = []
    compile_policy(resource, Emitter(), problems)
    return [
        replace(p, file=p.file or file, document=p.document or document, code=SUPPORT_CODE)
        for p in problems
    ]
