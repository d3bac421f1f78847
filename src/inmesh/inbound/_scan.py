"""What :class:`~inmesh.MeshMiddleware` does with each request header, by name: carry it
for the outbound side (trace context), read it (host, request id, content type, Istio's
metadata exchange, ambient's ``baggage``, XFCC) or drop it before the application sees it
(the spoofable ``x-inmesh-peer*`` identity headers and the exchange pair). The scan looks a
name up once; a name outside the table is classified once and remembered (bounded)."""

from __future__ import annotations

from ..telemetry._exchange import BAGGAGE_HEADER, PEER_METADATA_HEADER, PEER_METADATA_ID_HEADER
from ..telemetry._propagation import PROPAGATION_HEADERS

_REQUEST_ID = b"x-request-id"
_HOST = b"host"
#: Envoy removes XFCC from a client that is not mutual TLS and appends to it on mutual TLS
#: (Istio's APPEND_FORWARD); inmesh itself never takes identity from a header.
_XFCC = b"x-forwarded-client-cert"
_IDENTITY_PREFIX = b"x-inmesh-peer"
_AMBIENT_KEY = b"k8s."  # every ambient workload key starts so
# What the header scan does with a header, by name (identity objects, compared with ``is``;
# a name absent is kept unless it starts with one of _DROPPED_PREFIXES).
(
    _CARRY,
    _HOST_,
    _ID,
    _METADATA,
    _METADATA_ID,
    _FORWARDED,
    _BAGGAGE_,
    _CONTENT_TYPE,
    _TRACEPARENT,
    _TRACESTATE,
) = (object() for _ in range(10))
_SCAN: dict[bytes, object] = {
    **dict.fromkeys(PROPAGATION_HEADERS, _CARRY),
    b"traceparent": _TRACEPARENT,
    b"tracestate": _TRACESTATE,
    _HOST: _HOST_,
    _REQUEST_ID: _ID,
    PEER_METADATA_HEADER: _METADATA,
    PEER_METADATA_ID_HEADER: _METADATA_ID,
    _XFCC: _FORWARDED,
    BAGGAGE_HEADER: _BAGGAGE_,
    b"content-type": _CONTENT_TYPE,
}
#: the spoofable identity headers and Istio's exchange headers (x-envoy-peer-metadata*)
_DROPPED_PREFIXES = (_IDENTITY_PREFIX, PEER_METADATA_HEADER)
# Names _SCAN does not hold, classified once by _classify: kept as they are, or dropped
# (an identity header; an exchange one).
_KEEP, _DROP, _DROP_EXCHANGE = (object() for _ in range(3))
_NAMES: dict[bytes, object] = dict(_SCAN)
_NAMES_LIMIT = 1024  # a client inventing names only refills it
_LONGEST_KEPT_NAME = 128  # longer names are classified every time (as HeaderNames does)


def _classify(name: bytes) -> object:
    """What the scan does with a header ``name`` that _SCAN does not hold (kept for the
    next request)."""
    if name.startswith(_DROPPED_PREFIXES):
        what = _DROP_EXCHANGE if name.startswith(PEER_METADATA_HEADER) else _DROP
    else:
        what = _KEEP
    if len(name) <= _LONGEST_KEPT_NAME:
        if len(_NAMES) >= _NAMES_LIMIT:
            _NAMES.clear()
            _NAMES.update(_SCAN)
        _NAMES[name] = what
    return what
