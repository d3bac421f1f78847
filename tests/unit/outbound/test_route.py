"""The route tier: decisions, local replies and what the route applies before sending."""

from __future__ import annotations

import httpx
import pytest

import inmesh
from inmesh.outbound._call import Call
from inmesh.outbound._route import RouteTier

from ._support import mesh, request, state


def test_a_host_outside_the_mesh_under_registry_only_says_so() -> None:
    m, records = mesh(outbound_policy="REGISTRY_ONLY")
    answer, _ = RouteTier(state(m)).start(request("http://example.org/"))
    assert isinstance(answer, httpx.Response) and answer.status_code == 502
    rec = records[0]
    assert rec.cluster == "BlackHoleCluster" and rec.response_flags == "NR"
    assert rec.error == (
        "route: example.org is not a mesh host from namespace 'default' "
        "(outboundTrafficPolicy REGISTRY_ONLY)"
    )


def test_an_undeclared_port_is_no_route_and_says_which() -> None:
    m, records = mesh()
    answer, _ = RouteTier(state(m)).start(request("http://backend:81/"))
    assert isinstance(answer, httpx.Response) and answer.status_code == 404
    assert records[0].error == "route: backend.default.svc.cluster.local has no port 81"
    assert records[0].details == "route_not_found"


def test_passthrough_is_a_call_without_cluster_or_retries() -> None:
    m, _ = mesh()
    call, _ = RouteTier(state(m)).start(request("http://example.org/"))
    assert isinstance(call, Call) and call.cluster is None
    assert call.retry.policy.num_retries == 0


def test_header_edits_go_on_a_copy_and_the_applications_request_is_unchanged() -> None:
    m, _ = mesh(
        """
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: backend}
spec:
  hosts: [backend]
  http:
  - route: [{destination: {host: backend}}]
    headers: {request: {set: {x-env: prod}, remove: [x-debug]}}
    rewrite: {uri: /v2/}
"""
    )
    req = request("http://backend/v1/x?q=1", headers={"x-debug": "1"})
    call, _ = RouteTier(state(m)).start(req)
    assert isinstance(call, Call)
    sent = dict(call.headers)
    assert sent[b"x-env"] == b"prod" and b"x-debug" not in sent
    assert call.raw_path == b"/v2/v1/x?q=1"  # no match: the prefix "/" is replaced
    assert req.headers["x-debug"] == "1" and "x-env" not in req.headers
    assert req.url.raw_path == b"/v1/x?q=1"


def test_pool_overflow_is_answered_at_once_with_uo() -> None:
    m, records = mesh(
        """
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: backend}
spec:
  host: backend
  trafficPolicy:
    connectionPool: {http: {http2MaxRequests: 1}}
"""
    )
    route = RouteTier(state(m))
    first, _ = route.start(request())
    assert isinstance(first, Call)
    second, _ = route.start(request())
    assert isinstance(second, httpx.Response) and second.status_code == 503
    assert second.headers["x-inmesh-response-flags"] == "UO"
    assert records[0].details == "upstream_reset_before_response_started{overflow}"
    first.finish(200)
    third, _ = route.start(request())
    assert isinstance(third, Call)  # the ticket came back


def test_mirrors_are_copies_with_the_shadow_authority() -> None:
    m, _ = mesh(
        """
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: backend}
spec:
  hosts: [backend]
  http:
  - route: [{destination: {host: backend}}]
    mirror: {host: backend}
"""
    )
    call, mirrors = RouteTier(state(m)).start(request(content=b"x", method="POST"))
    assert isinstance(call, Call) and len(mirrors) == 1
    assert mirrors[0].request.headers["host"] == "backend-shadow"
    assert mirrors[0].request is not call.request


def test_a_registry_mesh_not_started_raises_instead_of_answering() -> None:
    m = inmesh.Mesh(service="frontend", registry="http://127.0.0.1:1")
    with pytest.raises(inmesh.MeshStateError, match="async with mesh"):
        RouteTier(state(m)).start(request())
