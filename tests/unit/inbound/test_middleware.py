"""MeshMiddleware's inbound checks, driven as a plain ASGI app (no sockets)."""

from __future__ import annotations

import asyncio
from typing import Any

import yaml

from inmesh import MeshMiddleware, current_peer
from inmesh.config import parse_documents
from inmesh.inbound import InboundConnection, InboundPolicy, Peer
from inmesh.security import Decision

FRONTEND = Peer("cluster.local/ns/shop/sa/frontend", "shop", "frontend", "cluster.local")

ALLOW_FRONTEND = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: payments, namespace: shop}
spec:
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/shop/sa/frontend"]}}]
    to: [{operation: {paths: ["/pay"], ports: ["8080"]}}]
"""


def resources(text: str) -> list[Any]:
    return list(parse_documents(list(yaml.safe_load_all(text))))


def scope(
    kind: str = "http",
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
    connection: InboundConnection | None = None,
    path: str = "/pay",
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": kind,
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers or [(b"host", b"payments:8080")],
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 50000),
    }
    if connection is not None:
        out["inmesh.connection"] = connection
    return out


class Seen:
    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []
        self.peers: list[Peer | None] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        self.peers.append(current_peer())


def run(app: Any, s: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(app(s, receive, send))
    return sent


def test_identity_headers_are_stripped_and_the_peer_comes_from_the_connection() -> None:
    seen = Seen()
    headers = [
        (b"host", b"payments"),
        (b"x-forwarded-client-cert", b"URI=spiffe://cluster.local/ns/shop/sa/admin"),
        (b"x-inmesh-peer-principal", b"cluster.local/ns/shop/sa/admin"),
        (b"x-request-id", b"abc"),
    ]
    run(MeshMiddleware(seen), scope(headers=headers))
    assert [k for k, _ in seen.scopes[0]["headers"]] == [b"host", b"x-request-id"]
    assert seen.scopes[0]["inmesh.peer"] is None and seen.peers == [None]
    run(MeshMiddleware(seen), scope(connection=InboundConnection(mtls=True, peer=FRONTEND)))
    assert seen.scopes[1]["inmesh.peer"] == FRONTEND and seen.peers[1] == FRONTEND
    assert current_peer() is None


def test_allowed_and_denied_requests_and_the_decision_in_the_scope() -> None:
    seen = Seen()
    app = MeshMiddleware(
        seen, policy=InboundPolicy(namespace="shop", resources=resources(ALLOW_FRONTEND))
    )
    run(app, scope(connection=InboundConnection(mtls=True, peer=FRONTEND)))
    decision: Decision = seen.scopes[0]["inmesh.authz"]
    assert decision.allowed and decision.policy == "shop/payments"
    sent = run(app, scope(connection=InboundConnection(mtls=True, peer=FRONTEND), path="/admin"))
    assert sent[0]["status"] == 403 and sent[1]["body"] == b"RBAC: access denied"
    sent = run(app, scope())
    assert sent[0]["status"] == 403 and len(seen.scopes) == 1


def test_a_denied_websocket_handshake_is_closed_before_accept() -> None:
    seen = Seen()
    app = MeshMiddleware(
        seen, policy=InboundPolicy(namespace="shop", resources=resources(ALLOW_FRONTEND))
    )
    assert run(app, scope("websocket")) == [{"type": "websocket.close", "code": 1008}]
    run(app, scope("websocket", connection=InboundConnection(mtls=True, peer=FRONTEND)))
    assert seen.scopes[0]["inmesh.authz"].allowed


def test_lifespan_passes_through_untouched() -> None:
    seen = Seen()
    app = MeshMiddleware(
        seen, policy=InboundPolicy(namespace="shop", resources=resources(ALLOW_FRONTEND))
    )
    lifespan = {"type": "lifespan"}
    run(app, lifespan)
    assert seen.scopes == [lifespan]


def test_an_invalid_policy_denies_everything_rather_than_being_ignored() -> None:
    # requestPrincipals needs RequestAuthentication: the evaluator refuses it by name
    bad = ALLOW_FRONTEND.replace("principals: [", "requestPrincipals: [")
    seen = Seen()
    app = MeshMiddleware(seen, policy=InboundPolicy(namespace="shop", resources=resources(bad)))
    sent = run(app, scope(connection=InboundConnection(mtls=True, peer=FRONTEND)))
    assert sent[0]["status"] == 403 and seen.scopes == []


def test_policy_update_applies_to_the_next_request() -> None:
    seen = Seen()
    policy = InboundPolicy(namespace="shop")
    app = MeshMiddleware(seen, policy=policy)
    run(app, scope())
    assert "inmesh.authz" not in seen.scopes[0]  # no AuthorizationPolicy: nothing evaluated
    policy.update(resources(ALLOW_FRONTEND))
    assert run(app, scope())[0]["status"] == 403


class Answer:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"paid"})


def test_the_destination_side_records_each_request_with_its_authorization() -> None:
    import inmesh

    mesh = inmesh.Mesh(
        service="payments",
        namespace="shop",
        labels={"app": "payments", "version": "v1"},
        config=resources(ALLOW_FRONTEND),
    )
    records: list[inmesh.RequestRecord] = []
    mesh.add_hook(records.append)
    app = MeshMiddleware(Answer(), mesh=mesh)
    run(app, scope(connection=InboundConnection(mtls=True, peer=FRONTEND)))
    run(app, scope())  # plaintext: no principal, denied
    allowed, denied = records
    assert (allowed.reporter, allowed.status, allowed.response_bytes) == ("destination", 201, 4)
    assert allowed.connection_security_policy == "mutual_tls"
    assert allowed.source_principal == "spiffe://cluster.local/ns/shop/sa/frontend"
    assert allowed.authorization == "ALLOW shop/payments"
    assert allowed.destination_workload == "payments-v1" and allowed.cluster == "inbound|8080||"
    assert (denied.status, denied.connection_security_policy) == (403, "none")
    assert denied.authorization == "DENY -"
    assert denied.details == "rbac_access_denied_matched_policy[none]"


def test_xfcc_on_mutual_tls_appends_this_hops_element_after_what_the_client_sent() -> None:
    seen = Seen()
    mtls = InboundConnection(mtls=True, peer=FRONTEND, client_cert_details=b"By=a;Hash=b")
    headers = [(b"x-forwarded-client-cert", b"By=x;URI=y"), (b"x-request-id", b"abc")]
    run(MeshMiddleware(seen), scope(headers=headers, connection=mtls))
    assert seen.scopes[0]["headers"] == [
        (b"x-request-id", b"abc"),
        (b"x-forwarded-client-cert", b"By=x;URI=y,By=a;Hash=b"),
    ]
    run(MeshMiddleware(seen), scope(headers=[(b"x-request-id", b"abc")], connection=mtls))
    assert seen.scopes[1]["headers"][-1] == (b"x-forwarded-client-cert", b"By=a;Hash=b")


def test_one_header_pass_keeps_the_order_and_drops_identity_and_exchange_headers() -> None:
    seen = Seen()
    headers = [
        (b"host", b"payments:8080"),
        (b"x-envoy-peer-metadata-id", b"sidecar~1~a.b~b.svc.cluster.local"),
        (b"accept", b"*/*"),
        (b"x-inmesh-peer-principal", b"spoofed"),
        (b"x-envoy-peer-metadata-other", b"also Istio's"),
        (b"x-forwarded-client-cert", b"By=spoofed"),
        (b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        (b"x-request-id", b"abc"),
        (b"x-custom", b"kept"),
    ]
    # twice: names first classified, then as the scan remembers them
    for _ in range(2):
        run(MeshMiddleware(seen), scope(headers=headers))  # plaintext: XFCC dropped
        assert seen.scopes[-1]["headers"] == [
            (b"host", b"payments:8080"),
            (b"accept", b"*/*"),
            (b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            (b"x-request-id", b"abc"),
            (b"x-custom", b"kept"),
        ]
    plain = [(b"host", b"payments:8080"), (b"x-request-id", b"abc")]
    run(MeshMiddleware(seen), scope(headers=plain))
    assert seen.scopes[-1]["headers"] == plain  # nothing to drop: the list as it came


def test_the_names_the_scan_remembers_stay_bounded_and_classified() -> None:
    """A client inventing header names refills the scan's table, never grows it past its
    bound, and a dropped name stays dropped after the table is refilled."""
    from inmesh.inbound import _scan

    seen = Seen()
    app = MeshMiddleware(seen)
    for i in range(_scan._NAMES_LIMIT + 10):
        headers = [(f"x-made-up-{i}".encode(), b"1"), (b"x-inmesh-peer-principal", b"spoofed")]
        run(app, scope(headers=headers))
        assert seen.scopes[-1]["headers"][0] == (f"x-made-up-{i}".encode(), b"1")
        assert all(name != b"x-inmesh-peer-principal" for name, _ in seen.scopes[-1]["headers"])
    assert len(_scan._NAMES) <= _scan._NAMES_LIMIT
    assert _scan._NAMES[b"traceparent"] is _scan._SCAN[b"traceparent"]


def test_the_first_content_type_decides_the_request_protocol() -> None:
    import inmesh

    mesh = inmesh.Mesh(service="payments", namespace="shop")
    records: list[inmesh.RequestRecord] = []
    mesh.add_hook(records.append)
    app = MeshMiddleware(Answer(), mesh=mesh)
    for first, second in (
        (b"application/grpc", b"text/plain"),
        (b"text/plain", b"application/grpc"),
    ):
        headers = [(b"content-type", first), (b"x-request-id", b"a"), (b"content-type", second)]
        run(app, scope(headers=headers))
    assert [r.request_protocol for r in records] == ["grpc", "http"]


def test_alternating_callers_each_get_their_own_metadata() -> None:
    """The middleware reuses the last x-envoy-peer-metadata value's decoding: keyed by the
    value itself, so requests alternating between two callers (two connections) never get
    each other's workload."""
    import inmesh
    from inmesh.telemetry._exchange import exchange_headers

    mesh = inmesh.Mesh(service="payments", namespace="shop", metrics=False)
    records: list[inmesh.RequestRecord] = []
    mesh.add_hook(records.append)
    app = MeshMiddleware(Answer(), mesh=mesh)
    callers = {
        name: list(exchange_headers(workload=name, namespace=ns, labels={"app": name}))
        for name, ns in (("front-v1", "shop"), ("batch-v2", "jobs"))
    }
    order = ["front-v1", "front-v1", "batch-v2", "front-v1", "batch-v2", "batch-v2"]
    for name in order:
        run(app, scope(headers=[(b"host", b"payments:8080"), *callers[name]]))
    run(app, scope())  # a caller without metadata: no source workload
    assert [r.source_workload for r in records] == [*order, ""]
    assert [r.source_namespace for r in records] == [
        "jobs" if name == "batch-v2" else "shop" for name in order
    ] + [""]


TRACE_CASES = {
    "traceparent": [(b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")],
    "with tracestate": [
        (b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"),
        (b"tracestate", b"a=1"),
        (b"tracestate", b"b=2"),
    ],
    "two traceparents: B3 multi": [
        (b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"),
        (b"x-b3-traceid", b"80f198ee56343ba864fe8b2a57d3eff7"),
        (b"x-b3-spanid", b"e457b5a2e4d86bd1"),
        (b"x-b3-sampled", b"0"),
        (b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"),
    ],
    "invalid traceparent: B3 single": [
        (b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-00"),
        (b"b3", b"80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-0"),
    ],
    "B3 multi only": [
        (b"x-b3-traceid", b"80f198ee56343ba8"),
        (b"x-b3-spanid", b"e457b5a2e4d86bd1"),
        (b"x-b3-sampled", b"0"),
    ],
    "upper-case traceparent: the regex's answer": [
        (b"traceparent", b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-00"),
        (b"x-b3-traceid", b"80f198ee56343ba864fe8b2a57d3eff7"),
        (b"x-b3-spanid", b"e457b5a2e4d86bd1"),
        (b"x-b3-sampled", b"0"),
    ],
}


def test_the_trace_context_read_inline_is_parse_headers() -> None:
    """The middleware parses a lone traceparent by itself and hands everything else to
    parse_headers: the context the request continues is parse_headers' in every case."""
    import inmesh
    from inmesh.telemetry import Tracing
    from inmesh.telemetry._propagation import current_inbound, parse_headers

    continued: list[Any] = []

    async def reads(scope: Any, receive: Any, send: Any) -> None:
        inbound = current_inbound()
        assert inbound is not None
        continued.append(inbound.trace)
        await Answer()(scope, receive, send)

    mesh = inmesh.Mesh(service="payments", namespace="shop", tracing=Tracing(sampling=0))
    app = MeshMiddleware(reads, mesh=mesh)
    for name, headers in TRACE_CASES.items():
        continued.clear()
        run(app, scope(headers=[(b"host", b"payments:8080"), *headers]))
        expected = parse_headers(headers)
        (trace,) = continued
        assert trace is not None and trace.sampled is False, name
        if expected is None or not expected.has_ids:
            assert trace.parent_span_id == b"", name  # a new trace
        else:
            got = (trace.trace_id, trace.parent_span_id, trace.tracestate, trace.format)
            want = (expected.trace_id, expected.span_id, expected.tracestate, expected.format)
            assert got == want, name


def test_the_decision_is_logged_at_debug_as_soon_as_debug_is_on(caplog: Any) -> None:
    """The middleware reads logging's own cache of the level: a level changed between two
    requests applies to the next one (the cache is cleared by every level change)."""
    import logging

    policy = InboundPolicy(resources=resources(ALLOW_FRONTEND), namespace="shop")
    app = MeshMiddleware(Seen(), policy=policy)
    logger = logging.getLogger("inmesh.inbound")
    caplog.set_level(logging.INFO, logger="inmesh.inbound")
    run(app, scope(connection=InboundConnection(mtls=True, peer=FRONTEND)))
    assert logger._cache.get(logging.DEBUG) is False  # read (and cached) by the request
    assert not [r for r in caplog.records if r.message.startswith("authz ")]
    caplog.set_level(logging.DEBUG, logger="inmesh.inbound")
    run(app, scope(connection=InboundConnection(mtls=True, peer=FRONTEND)))
    logged = [r.message for r in caplog.records if r.message.startswith("authz ")]
    assert logged == [
        "authz GET /pay from cluster.local/ns/shop/sa/frontend: allowed "
        "(ALLOW policy shop/payments matched)"
    ]
