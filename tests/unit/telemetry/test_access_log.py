"""The access log: Istio's TEXT and JSON layouts, and when a line is written."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

import pytest

from inmesh.telemetry import RequestRecord
from inmesh.telemetry._access_log import AccessLogHook, format_json, format_text
from inmesh.telemetry._cel import compile_filter
from inmesh.telemetry._policy import AccessLogRule, TelemetryPolicy
from tests.unit.telemetry.records import record

# Istio's docs (tasks/observability/logs/access-log), curl -> httpbin's /status/418: the
# client's and the server's line. inmesh writes "-" for x-envoy-upstream-service-time
# (it does not add that header); the docs' lines have 4 and 1 there.
CLIENT_LINE = (
    '[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 4 '
    '{ust} "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" '
    '"10.44.1.27:80" outbound|8000||httpbin.foo.svc.cluster.local 10.44.1.23:37652 '
    "10.0.45.184:8000 10.44.1.23:46520 - default"
)
SERVER_LINE = (
    '[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 3 '
    '{ust} "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" '
    '"127.0.0.1:80" inbound|8000|| 127.0.0.1:41854 10.44.1.27:80 10.44.1.23:37652 '
    "outbound_.8000_._.httpbin.foo.svc.cluster.local default"
)
START = datetime(2020, 11, 25, 21, 26, 18, 409000, tzinfo=timezone.utc).timestamp()
HEADERS = {
    "host": "httpbin:8000",
    "user-agent": "curl/7.73.0-DEV",
    "x-request-id": "84961386-6d84-929d-98bd-c5aee93b5c88",
}


def _httpbin(**fields: Any) -> RequestRecord:
    base: dict[str, Any] = {
        "method": "GET",
        "path": "/status/418",
        "status": 418,
        "details": "via_upstream",
        "protocol": "HTTP/1.1",
        "start_time": START,
        "response_bytes": 135,
        "request_headers": HEADERS,
        "route_name": "",
    }
    return record(**{**base, **fields})


def client_record() -> RequestRecord:
    return _httpbin(
        duration=0.0042,
        destination_endpoint="10.44.1.27:80",
        cluster="outbound|8000||httpbin.foo.svc.cluster.local",
        upstream_local_address="10.44.1.23:37652",
        downstream_local_address="10.0.45.184:8000",
        downstream_remote_address="10.44.1.23:46520",
    )


def server_record() -> RequestRecord:
    return _httpbin(
        reporter="destination",
        duration=0.0031,
        destination_endpoint="127.0.0.1:80",
        cluster="inbound|8000||",
        upstream_local_address="127.0.0.1:41854",
        downstream_local_address="10.44.1.27:80",
        downstream_remote_address="10.44.1.23:37652",
        requested_server_name="outbound_.8000_._.httpbin.foo.svc.cluster.local",
        route_name="default",
    )


def test_text_lines_are_istios_default_format() -> None:
    assert format_text(client_record()) == CLIENT_LINE.format(ust="-")
    assert format_text(server_record()) == SERVER_LINE.format(ust="-")


def test_text_missing_values_are_dashes_and_special_routes_are_named() -> None:
    rec = record(
        start_time=START,
        status=502,
        response_flags="NR",
        details="",
        cluster="BlackHoleCluster",
        route_name="",
        destination_endpoint="",
        query="a=1",
    )
    line = format_text(rec)
    assert '"GET /reviews/0?a=1 -" 502 NR - - "-" 0 0 12 - "-" "-" "-" "-" "-"' in line
    assert line.endswith(" BlackHoleCluster - - - - block_all")
    passthrough = format_text(record(cluster="PassthroughCluster", route_name=""))
    assert passthrough.endswith(" allow_any")


def test_upstream_transport_failure_reason_only_for_connection_failures() -> None:
    failed = record(
        status=503,
        response_flags="UF",
        error="endpoint 127.0.0.1:1: connection refused",
    )
    assert '"endpoint 127.0.0.1:1: connection refused"' in format_text(failed)
    timeout = record(status=504, response_flags="UT", error="route reviews: timeout")
    assert ' - "-" ' in format_text(timeout)


def test_json_has_istios_keys_numbers_and_nulls() -> None:
    entry = json.loads(format_json(client_record()))
    assert list(entry) == [
        "start_time",
        "route_name",
        "method",
        "path",
        "protocol",
        "response_code",
        "response_flags",
        "response_code_details",
        "connection_termination_details",
        "bytes_received",
        "bytes_sent",
        "duration",
        "upstream_service_time",
        "x_forwarded_for",
        "user_agent",
        "request_id",
        "authority",
        "upstream_host",
        "upstream_cluster",
        "upstream_local_address",
        "downstream_local_address",
        "downstream_remote_address",
        "requested_server_name",
        "upstream_transport_failure_reason",
    ]
    assert entry["start_time"] == "2020-11-25T21:26:18.409Z"
    assert (entry["response_code"], entry["bytes_received"], entry["bytes_sent"]) == (418, 0, 135)
    assert entry["duration"] == 4
    assert entry["x_forwarded_for"] is None
    assert entry["requested_server_name"] is None
    assert entry["response_flags"] == "-"
    assert entry["upstream_cluster"] == "outbound|8000||httpbin.foo.svc.cluster.local"
    assert entry["authority"] == "httpbin:8000"


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "inmesh.access"]


def test_hook_logs_when_enabled_and_not_otherwise(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="inmesh.access")
    AccessLogHook(enabled=False)(client_record())
    assert _lines(caplog) == []
    AccessLogHook()(client_record())
    AccessLogHook(encoding="json")(server_record())
    text, js = _lines(caplog)
    assert text == CLIENT_LINE.format(ust="-")
    assert json.loads(js)["upstream_cluster"] == "inbound|8000||"
    with pytest.raises(ValueError, match="'xml'"):
        AccessLogHook(encoding="xml")  # type: ignore[arg-type]


def test_telemetry_rule_decides_per_mode_over_the_mesh_setting(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="inmesh.access")
    errors = "response.code >= 400"
    policy = TelemetryPolicy(
        client_log=AccessLogRule(False, errors, compile_filter(errors)),
        server_log=AccessLogRule(True),
    )
    hook = AccessLogHook(enabled=False)  # the Mesh setting is off: Telemetry turns it on
    hook(record(telemetry=policy, status=200))
    hook(record(telemetry=policy, status=503, path="/bad"))
    hook(record(telemetry=policy, status=503, reporter="destination", path="/server"))
    [line] = _lines(caplog)
    assert '"GET /bad ' in line


def test_nothing_is_formatted_when_the_logger_is_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="inmesh.access")
    AccessLogHook()(client_record())
    assert _lines(caplog) == []
