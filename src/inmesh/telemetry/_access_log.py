"""Envoy's access log as Istio configures it, one line per request, through Python logging.

The TEXT line is Istio's ``EnvoyTextLogFormat`` (istio/istio
pilot/pkg/model/telemetry_logging.go), what ``meshConfig.accessLogFile`` and the
Telemetry API's ``envoy`` provider write::

    [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"
    %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS%
    "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
    %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
    "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW%
    %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS%
    %REQUESTED_SERVER_NAME% %ROUTE_NAME%

(one line, single spaces). JSON (``accessLogEncoding: JSON``) has the keys of Istio's
``EnvoyJSONLogFormatIstio``; Envoy writes numbers for the response code, byte counts and
duration, and ``null`` where TEXT writes ``-``.

What an in-process mesh has no value for is ``-`` as Envoy writes a missing value:
``%CONNECTION_TERMINATION_DETAILS%``, ``x-envoy-upstream-service-time`` (inmesh does not
add that header), the source side's downstream remote address and server name (the
application is in the same process: no downstream connection), and the destination side's
upstream local address.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any, Literal

from .._flags import BLACKHOLE_CLUSTER, PASSTHROUGH_CLUSTER
from ._record import RequestRecord

__all__ = ["ACCESS_LOGGER", "AccessLogHook", "format_json", "format_text", "json_fields"]

#: The logger every access-log line goes to, at INFO.
ACCESS_LOGGER = "inmesh.access"
Encoding = Literal["text", "json"]
_log = logging.getLogger(ACCESS_LOGGER)


def _start_time(epoch: float) -> str:
    """Envoy's default ``%START_TIME%``: UTC, milliseconds, ``Z``."""
    ms = round(epoch * 1000)  # whole milliseconds first: 18.409 is not 18.408999...
    t = datetime.fromtimestamp(ms // 1000, tz=timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _route_name(rec: RequestRecord) -> str:
    """Istio's route names: the VirtualService route's, else ``default`` (the route of a
    service without a VirtualService, and every inbound route), ``allow_any`` to
    PassthroughCluster, ``block_all`` to BlackHoleCluster."""
    if rec.route_name:
        return rec.route_name
    if rec.cluster == PASSTHROUGH_CLUSTER:
        return "allow_any"
    if rec.cluster == BLACKHOLE_CLUSTER:
        return "block_all"
    return "default"


def _failure_reason(rec: RequestRecord) -> str:
    """``%UPSTREAM_TRANSPORT_FAILURE_REASON%``: why the connection to the upstream failed
    (flag UF), empty otherwise."""
    return rec.error if "UF" in rec.response_flags else ""


def _path(rec: RequestRecord) -> str:
    return f"{rec.path}?{rec.query}" if rec.query else rec.path


def format_text(rec: RequestRecord) -> str:
    """The record as Istio's default TEXT access-log line (without the newline)."""
    return (
        f"[{_start_time(rec.start_time)}] "
        f'"{rec.method} {_path(rec) or "-"} {rec.protocol or "-"}" '
        f"{rec.status} {rec.response_flags or '-'} {rec.details or '-'} - "
        f'"{_failure_reason(rec) or "-"}" {rec.request_bytes} {rec.response_bytes} '
        f"{int(rec.duration * 1000)} - "
        f'"{rec.forwarded_for or "-"}" "{rec.user_agent or "-"}" "{rec.request_id or "-"}" '
        f'"{rec.authority or "-"}" "{rec.destination_endpoint or "-"}" '
        f"{rec.cluster or '-'} {rec.upstream_local_address or '-'} "
        f"{rec.downstream_local_address or '-'} {rec.downstream_remote_address or '-'} "
        f"{rec.requested_server_name or '-'} {_route_name(rec)}"
    )


def json_fields(rec: RequestRecord) -> dict[str, Any]:
    """The record as Istio's JSON access-log object (``None`` for Envoy's ``null``)."""
    return {
        "start_time": _start_time(rec.start_time),
        "route_name": _route_name(rec),
        "method": rec.method or None,
        "path": _path(rec) or None,
        "protocol": rec.protocol or None,
        "response_code": rec.status,
        "response_flags": rec.response_flags or "-",
        "response_code_details": rec.details or None,
        "connection_termination_details": None,
        "bytes_received": rec.request_bytes,
        "bytes_sent": rec.response_bytes,
        "duration": int(rec.duration * 1000),
        "upstream_service_time": None,
        "x_forwarded_for": rec.forwarded_for or None,
        "user_agent": rec.user_agent or None,
        "request_id": rec.request_id or None,
        "authority": rec.authority or None,
        "upstream_host": rec.destination_endpoint or None,
        "upstream_cluster": rec.cluster or None,
        "upstream_local_address": rec.upstream_local_address or None,
        "downstream_local_address": rec.downstream_local_address or None,
        "downstream_remote_address": rec.downstream_remote_address or None,
        "requested_server_name": rec.requested_server_name or None,
        "upstream_transport_failure_reason": _failure_reason(rec) or None,
    }


def format_json(rec: RequestRecord) -> str:
    """The record as one JSON access-log line."""
    return json.dumps(json_fields(rec), separators=(",", ":"))


class AccessLogHook:
    """A ``RecordHook`` writing one access-log line per record to ``inmesh.access`` (INFO).

    Whether a record is logged: the Telemetry API's ``accessLogging`` for the record's
    mode (its ``telemetry`` policy: ``disabled``, ``filter.expression``) when a Telemetry
    resource configures it, else ``enabled`` (``Mesh(access_log=...)``, Istio's
    ``meshConfig.accessLogFile``). ``encoding`` is ``text`` (Istio's default) or ``json``.
    """

    __slots__ = ("_format", "enabled", "encoding")

    def __init__(self, *, enabled: bool = True, encoding: Encoding = "text") -> None:
        if encoding not in ("text", "json"):
            raise ValueError(f"access log encoding must be 'text' or 'json', not {encoding!r}")
        self.enabled = enabled
        self.encoding = encoding
        self._format = format_json if encoding == "json" else format_text

    def __call__(self, rec: RequestRecord) -> None:
        policy = rec.telemetry
        rule = policy.access_log_for(rec.reporter) if policy is not None else None
        if rule is None:
            if not self.enabled:
                return
        elif rule.disabled or (rule.matches is not None and not rule.matches(rec)):
            return
        if _log.isEnabledFor(logging.INFO):
            _log.info(self._format(rec))
