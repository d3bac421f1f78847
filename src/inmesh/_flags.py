"""Envoy's vocabulary for what went wrong: response flags, local replies, response code
details and the special cluster names. The one home of each: nothing else spells them.

When the mesh (not the upstream application) produces a response, the application sees what
an Istio sidecar would return, and the flag is named in the ``x-inmesh-response-flags``
header and in telemetry, as Envoy's ``%RESPONSE_FLAGS%`` access-log field names it;
``details`` is Envoy's ``%RESPONSE_CODE_DETAILS%``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

FLAGS_HEADER: Final = "x-inmesh-response-flags"

# -- response flags (Envoy's short names, StreamInfo::ResponseFlag) -----------------------
UH: Final = "UH"  # no healthy upstream host
UT: Final = "UT"  # upstream request timeout
UF: Final = "UF"  # upstream connection failure
UC: Final = "UC"  # upstream connection termination
UO: Final = "UO"  # upstream overflow (circuit breaking)
NR: Final = "NR"  # no route configured
NC: Final = "NC"  # no cluster
DI: Final = "DI"  # delay injected by the fault filter
FI: Final = "FI"  # aborted by the fault filter
DC: Final = "DC"  # downstream connection termination (the application gave up)
URX: Final = "URX"  # upstream retry limit exceeded

# -- Istio's special clusters (the names telemetry shows) ------------------------------------
PASSTHROUGH_CLUSTER: Final = "PassthroughCluster"
BLACKHOLE_CLUSTER: Final = "BlackHoleCluster"

# -- response code details (Envoy's StreamInfo::ResponseCodeDetails) ------------------------
VIA_UPSTREAM: Final = "via_upstream"
UPSTREAM_PER_TRY_TIMEOUT: Final = "upstream_per_try_timeout"


@dataclass(frozen=True, slots=True)
class LocalReply:
    """A response the mesh produces itself: status, body, Envoy flag and details."""

    status: int
    body: str
    flag: str
    details: str = ""


_RESET = "upstream connect error or disconnect/reset before headers. reset reason: "

# Envoy's local replies, with the body text Envoy sends (see Envoy's "response flags"
# access-log documentation and the router filter's local reply bodies).
NO_HEALTHY_UPSTREAM = LocalReply(503, "no healthy upstream", UH, "no_healthy_upstream")
NO_ROUTE = LocalReply(404, "", NR, "route_not_found")
NO_CLUSTER = LocalReply(503, "", NC, "cluster_not_found")
UPSTREAM_CONNECT_FAILURE = LocalReply(
    503,
    _RESET + "connection failure",
    UF,
    "upstream_reset_before_response_started{connection_failure}",
)
UPSTREAM_RESET = LocalReply(
    503,
    _RESET + "connection termination",
    UC,
    "upstream_reset_before_response_started{connection_termination}",
)
UPSTREAM_TIMEOUT = LocalReply(504, "upstream request timeout", UT, "response_timeout")
UPSTREAM_OVERFLOW = LocalReply(
    503, _RESET + "overflow", UO, "upstream_reset_before_response_started{overflow}"
)
# Istio's REGISTRY_ONLY outbound policy sends unknown hosts to the BlackHoleCluster: Envoy
# answers 502 with no body and flag NR (BLACKHOLE_CLUSTER is the cluster name in telemetry).
BLACKHOLE = LocalReply(502, "", NR, "direct_response")

# The order Envoy prints several flags in (%RESPONSE_FLAGS%, comma-separated): the order of
# its flag enumeration (ResponseFlagUtils), so "UF,URX" and never "URX,UF".
_ORDER = [
    "LH",
    UH,
    UT,
    "LR",
    "UR",
    UF,
    UC,
    UO,
    NR,
    DI,
    FI,
    "RL",
    "UAEX",
    "RLSE",
    DC,
    URX,
    "SI",
    "IH",
    "DPE",
    "UMSDR",
    "RFCF",
    "NFCF",
    "DT",
    "UPE",
    NC,
    "OM",
    "DF",
    "DO",
    "DR",
]
_RANK = {flag: i for i, flag in enumerate(_ORDER)}


def join_flags(*flags: str) -> str:
    """Combine flag strings (each possibly comma-separated) in Envoy's order, no repeats."""
    seen = {f for group in flags if group for f in group.split(",") if f and f != "-"}
    return ",".join(sorted(seen, key=lambda f: _RANK.get(f, len(_RANK))))


def with_reason(reply: LocalReply, reason: str) -> str:
    """A connection failure's body with its cause, as Envoy writes it
    (``..., transport failure reason: <cause>``)."""
    if not reason or not reply.body.startswith(_RESET):
        return reply.body
    return f"{reply.body}, transport failure reason: {reason}"
