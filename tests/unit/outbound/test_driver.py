"""The call tier and the step driver, without sockets: what each outcome leads to."""

from __future__ import annotations

import httpcore
import httpx
import pytest

from inmesh.outbound._call import Call
from inmesh.outbound._driver import steps
from inmesh.outbound._endpoint import Exchange
from inmesh.outbound._route import RouteTier

from ._support import mesh, request, response, run, state

RETRY_ON_503 = """
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: backend}
spec:
  hosts: [backend]
  http:
  - route: [{destination: {host: backend}}]
    retries: {attempts: 2, retryOn: "503,connect-failure"}
"""


def _call(extra: str = "", url: str = "http://backend/") -> tuple[Call, list]:
    m, records = mesh(extra)
    call, mirrors = RouteTier(state(m)).start(request(url))
    assert isinstance(call, Call) and mirrors == []
    return call, records


def test_first_attempt_answered_returns_the_upstream_response() -> None:
    call, records = _call()
    final, commands = run(steps(call), [response(200)])
    assert isinstance(final, httpcore.Response) and final.status == 200
    assert [type(c) for c in commands] == [Exchange]
    call.finish(200)
    assert records[0].details == "via_upstream" and records[0].error == ""
    assert records[0].attempts == 1 and records[0].response_flags == "-"


def test_a_retried_response_is_closed_then_the_backoff_slept_then_sent_again() -> None:
    call, records = _call(RETRY_ON_503)
    final, commands = run(steps(call), [response(503), response(200)])
    assert final.status == 200
    kinds = [type(c).__name__ for c in commands]
    assert kinds == ["Exchange", "Response", "float", "Exchange"]
    first, second = commands[0], commands[3]
    assert first.endpoint_key != second.endpoint_key  # Istio's retryIgnorePreviousHosts
    call.finish(200)
    assert records[0].attempts == 2


def test_retries_exhausted_answer_the_last_response_with_urx() -> None:
    call, _ = _call(RETRY_ON_503)
    final, _ = run(steps(call), [response(503), response(503), response(503)])
    assert final.status == 503
    assert call.response_headers([])["x-inmesh-response-flags"] == "URX"


def test_connection_refused_is_retried_by_default_and_keeps_its_cause() -> None:
    call, records = _call()
    refused = httpcore.ConnectError("[Errno 111] Connection refused")
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    final, _commands = run(steps(call), [refused, refused, refused])
    # Istio's default policy: 2 retries on connect-failure, then 503 UF,URX
    assert isinstance(final, httpx.Response) and final.status_code == 503
    assert final.headers["x-inmesh-response-flags"] == "UF,URX"
    body = final.content.decode()
    assert body.startswith("upstream connect error or disconnect/reset before headers")
    assert "transport failure reason: endpoint 127.0.0." in body
    assert body.endswith("connection refused")
    rec = records[0]
    assert rec.attempts == 3 and rec.response_flags == "UF,URX"
    assert rec.details == "upstream_reset_before_response_started{connection_failure}"
    assert rec.error.startswith("endpoint 127.0.0.") and rec.error.endswith("connection refused")


def test_the_applications_own_read_timeout_is_raised_as_httpx() -> None:
    call, _records = _call()
    with pytest.raises(httpx.ReadTimeout):
        run(steps(call), [httpcore.ReadTimeout("timed out")])


def test_an_application_error_is_raised_as_httpx_and_not_retried() -> None:
    call, _ = _call()
    with pytest.raises(httpx.UnsupportedProtocol):
        run(steps(call), [httpcore.UnsupportedProtocol("nope")])


PER_TRY = """
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: backend}
spec:
  hosts: [backend]
  http:
  - route: [{destination: {host: backend}}]
    timeout: 30s
    retries: {attempts: 1, perTryTimeout: 10s, retryOn: connect-failure}
"""


def test_the_meshs_deadline_is_an_upstream_timeout() -> None:
    call, records = _call(PER_TRY)
    final, commands = run(steps(call), [TimeoutError()])
    assert commands[0].timeout == pytest.approx(10.0, abs=0.1)
    assert commands[0].timed_by_mesh
    assert final.status_code == 504 and final.headers["x-inmesh-response-flags"] == "UT"
    # the per-try timeout fired, not the route's 30 s
    assert records[0].details == "upstream_per_try_timeout"


FAULTS = """
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: backend}
spec:
  hosts: [backend]
  http:
  - route: [{destination: {host: backend}}]
    fault:
      delay: {fixedDelay: 2s, percentage: {value: 100}}
      abort: {httpStatus: 418, percentage: {value: 100}}
"""


def test_a_fault_delay_is_slept_before_the_abort_answer() -> None:
    call, records = _call(FAULTS)
    final, commands = run(steps(call), [])
    assert commands == [2.0]
    assert final.status_code == 418 and final.headers["x-inmesh-response-flags"] == "DI,FI"
    assert records[0].details == "fault_filter_abort" and records[0].attempts == 0


def test_a_fault_delay_longer_than_the_apps_read_timeout_raises_its_timeout() -> None:
    m, _ = mesh(FAULTS)
    req = request(extensions={"timeout": {"read": 0.5}})
    call, _ = RouteTier(state(m)).start(req)
    assert isinstance(call, Call)
    driver = steps(call)
    assert driver.send(None) == 0.5
    with pytest.raises(httpx.ReadTimeout):
        driver.send(None)


def test_no_healthy_upstream_when_every_endpoint_is_ejected() -> None:
    m, records = mesh(
        """
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: backend}
spec:
  host: backend
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 30s,
                       maxEjectionPercent: 100}
"""
    )
    route = RouteTier(state(m))
    sent = set()
    for _ in range(2):  # each endpoint answers 500 once and is ejected
        call, _ = route.start(request())
        assert isinstance(call, Call)
        final, commands = run(steps(call), [response(500)])
        sent.add(commands[0].endpoint_key)
        call.finish(final.status)
    assert sent == {"127.0.0.1:9001", "127.0.0.2:9002"}
    call, _ = route.start(request())
    assert isinstance(call, Call)
    final, commands = run(steps(call), [])
    assert commands == []
    assert final.status_code == 503 and final.headers["x-inmesh-response-flags"] == "UH"
    assert final.content == b"no healthy upstream"
    assert records[-1].details == "no_healthy_upstream"


def test_a_refused_client_certificate_is_not_retried_by_default_and_says_so() -> None:
    import ssl

    call, records = _call()
    alert = ssl.SSLError(1, "tlsv13 alert certificate required")
    alert.reason = "TLSV13_ALERT_CERTIFICATE_REQUIRED"  # type: ignore[misc]
    refused = httpcore.ReadError("tlsv13 alert certificate required")
    refused.__cause__ = alert
    final, commands = run(steps(call), [refused])
    # Istio's default retryOn (connect-failure, refused-stream, ...) does not cover a reset
    # after the request was sent: one attempt, answered 503 UC with the TLS cause
    assert [type(c).__name__ for c in commands] == ["Exchange"]
    assert final.status_code == 503 and final.headers["x-inmesh-response-flags"] == "UC"
    assert records[0].error.endswith("TLS error: TLSV13_ALERT_CERTIFICATE_REQUIRED")
