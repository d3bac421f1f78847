"""Envoy's response flags, and the answers the mesh gives when it ends a request itself.

When the mesh (not the upstream application) produces a response, the application sees what
an Istio sidecar would return, and the flag is named in the ``x-inmesh-response-flags``
header and in telemetry, as Envoy's ``%RESPONSE_FLAGS%`` access-log field names it.
"""

from __future__ import annotations

from dataclasses import dataclass

FLAGS_HEADER = "x-inmesh-response-flags"


@dataclass(frozen=True, slots=True)
class LocalReply:
    """A response the mesh produces itself: status, body and Envoy flag."""

    status: int
    body: str
    flag: str


# Envoy's local replies, with the body text Envoy sends (see Envoy's "response flags"
# access-log documentation and the router filter's local reply bodies).
NO_HEALTHY_UPSTREAM = LocalReply(503, "no healthy upstream", "UH")
NO_ROUTE = LocalReply(404, "", "NR")
NO_CLUSTER = LocalReply(503, "", "NC")
UPSTREAM_CONNECT_FAILURE = LocalReply(
    503,
    "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
    "UF",
)
UPSTREAM_RESET = LocalReply(
    503,
    "upstream connect error or disconnect/reset before headers. reset reason: "
    "connection termination",
    "UC",
)
UPSTREAM_TIMEOUT = LocalReply(504, "upstream request timeout", "UT")
UPSTREAM_OVERFLOW = LocalReply(
    503, "upstream connect error or disconnect/reset before headers. reset reason: overflow", "UO"
)
# Istio's REGISTRY_ONLY outbound policy sends unknown hosts to the BlackHoleCluster: Envoy
# answers 502 with no body and flag NR ("BlackHoleCluster" is the cluster name in telemetry).
BLACKHOLE = LocalReply(502, "", "NR")

# The order Envoy prints several flags in (%RESPONSE_FLAGS%, comma-separated): the order of
# its flag enumeration (ResponseFlagUtils), so "UF,URX" and never "URX,UF".
_ORDER = [
    "LH",
    "UH",
    "UT",
    "LR",
    "UR",
    "UF",
    "UC",
    "UO",
    "NR",
    "DI",
    "FI",
    "RL",
    "UAEX",
    "RLSE",
    "DC",
    "URX",
    "SI",
    "IH",
    "DPE",
    "UMSDR",
    "RFCF",
    "NFCF",
    "DT",
    "UPE",
    "NC",
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
