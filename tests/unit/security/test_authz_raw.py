"""``WorkloadAuthorizer.check_raw`` (the inbound middleware's path) decides exactly as
``check(AuthzRequest(...))`` does for the same request, attribute by attribute."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inmesh.security import Authorizer, AuthzRequest, Decision, WorkloadAuthorizer

from ._policies import FRONT, load, op, policy, src, when

POLICIES = [
    policy("deny-debug", action="DENY", rules=[when("request.headers[X-Debug]", ["*"])]),
    policy(
        "deny-tenant",
        action="DENY",
        rules=[
            {**op(paths=["/admin/*"]), **when("request.headers[x-tenant]", ["evil", "bad-*"])},
            {**src(namespaces=["blocked"]), **when("connection.sni", ["bad.example"])},
            {
                "when": [
                    {"key": "destination.port", "values": ["80"]},
                    {"key": "request.headers[x-tenant]", "values": ["t1"]},
                    {"key": "source.ip", "notValues": ["10.0.0.0/8"]},
                ]
            },
        ],
    ),
    policy(
        "allow",
        rules=[
            {**src(principals=[FRONT]), **op(methods=["GET"], paths=["/pay/{*}"])},
            {**op(hosts=["shop.example", "*.internal"], ports=["8080"])},
            {**src(ipBlocks=["10.0.0.0/8"]), **when("destination.ip", ["192.168.0.0/16"])},
            {**op(notPaths=["/p/*"], methods=["POST"]), **when("request.headers[x-h]", ["a,b"])},
        ],
    ),
    policy("audit", action="AUDIT", rules=[op(paths=["/pay/*"])]),
    policy(
        "dry",
        action="DENY",
        annotations={"istio.io/dry-run": "true"},
        rules=[when("request.headers[x-tenant]", ["t1"])],
    ),
]

HEADERS = st.lists(
    st.sampled_from(
        [
            (b"x-debug", b"1"),
            (b"X-Debug", b""),
            (b"x-tenant", b"evil"),
            (b"x-tenant", b"bad-1"),
            (b"x-tenant", b"t1"),
            (b"x-h", b"a"),
            (b"x-h", b"b"),
            (b"user-agent", b"bench"),
            (b"x-other", b"\xe9"),
        ]
    ),
    max_size=4,
)
REQUEST = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["GET", "POST"]),
        "target": st.sampled_from(
            [b"/pay/42?x=1", b"/pay/4/2", b"/admin/x", b"/p/q", b"/a/../pay/1", b"/x%2F"]
        ),
        "host": st.sampled_from([None, b"shop.example", b"A.Internal", b"shop:8080"]),
        "port": st.sampled_from([None, 80, 8080]),
        "headers": HEADERS,
        "peer": st.sampled_from(
            [
                (None, False),
                (None, True),
                (FRONT, True),
                ("spiffe://" + FRONT, True),
                ("cluster.local/ns/blocked/sa/x", True),
            ]
        ),
        "source_ip": st.sampled_from([None, "10.1.2.3", "127.0.0.1", "::1"]),
        "destination_ip": st.sampled_from([None, "192.168.1.1", "127.0.0.1"]),
        "sni": st.sampled_from([None, "bad.example", "good.example"]),
    }
)


def _authorizer() -> WorkloadAuthorizer:
    return Authorizer(load(*POLICIES)).for_workload(namespace="shop", labels={})


def _both(authorizer: WorkloadAuthorizer, r: dict[str, Any]) -> tuple[Decision, Decision]:
    principal, mtls = r["peer"]
    raw = authorizer.check_raw(
        method=r["method"],
        target=r["target"],
        host=r["host"],
        port=r["port"],
        headers=r["headers"],
        principal=principal,
        mtls=mtls,
        source_ip=r["source_ip"],
        destination_ip=r["destination_ip"],
        sni=r["sni"],
    )
    via_request = authorizer.check(
        AuthzRequest(
            method=r["method"],
            path=r["target"].decode("latin-1"),
            host=r["host"].decode("latin-1") if r["host"] is not None else None,
            port=r["port"],
            headers=[(n.decode("latin-1"), v.decode("latin-1")) for n, v in r["headers"]],
            source_principal=principal,
            mtls=mtls,
            source_ip=r["source_ip"],
            destination_ip=r["destination_ip"],
            sni=r["sni"],
        )
    )
    return raw, via_request


#: One authorizer for every example: its per-connection plans are reused by requests
#: that differ in everything a request carries.
SHARED = _authorizer()


@settings(max_examples=300, deadline=None)
@given(REQUEST)
def test_check_raw_decides_as_check_does(request: dict[str, Any]) -> None:
    raw, via_request = _both(_authorizer(), request)
    assert raw == via_request


@settings(max_examples=500, deadline=None)
@given(REQUEST)
def test_check_raw_decides_as_check_does_on_a_known_connection(request: dict[str, Any]) -> None:
    raw, via_request = _both(SHARED, request)
    assert raw == via_request


def test_a_known_connection_still_decides_each_request_by_its_own_data() -> None:
    authorizer = _authorizer()
    request: dict[str, Any] = {
        "method": "GET",
        "target": b"/pay/42",
        "host": None,
        "port": 8080,
        "headers": [],
        "peer": (FRONT, True),
        "source_ip": "127.0.0.1",
        "destination_ip": "127.0.0.1",
        "sni": None,
    }
    first, _ = _both(authorizer, request)
    debug, _ = _both(authorizer, {**request, "headers": [(b"x-debug", b"1")]})
    other_path, _ = _both(authorizer, {**request, "target": b"/pay/4/2"})
    again, _ = _both(authorizer, request)
    assert first.allowed and first.policy == "shop/allow" and first.rule == 0
    assert not debug.allowed and debug.policy == "shop/deny-debug"
    assert not other_path.allowed and other_path.policy is None
    assert again == first


def test_repeated_headers_are_joined_and_other_headers_not_read() -> None:
    authorizer = _authorizer()
    request = {
        "method": "POST",
        "target": b"/x",
        "host": None,
        "port": None,
        "headers": [(b"x-h", b"a"), (b"user-agent", b"u"), (b"x-h", b"b")],
        "peer": (None, False),
        "source_ip": None,
        "destination_ip": None,
        "sni": None,
    }
    raw, via_request = _both(authorizer, request)
    assert raw == via_request
    assert raw.allowed and raw.policy == "shop/allow" and raw.rule == 3


def test_invalid_requests_raise_as_authz_request_does() -> None:
    authorizer = _authorizer()
    base: dict[str, Any] = {
        "method": "GET",
        "target": b"/",
        "host": None,
        "headers": [],
        "destination_ip": None,
        "sni": None,
    }
    with pytest.raises(ValueError, match="plaintext"):
        authorizer.check_raw(**base, port=80, principal=FRONT, mtls=False, source_ip=None)
    with pytest.raises(ValueError, match="port"):
        authorizer.check_raw(**base, port=70000, principal=None, mtls=False, source_ip=None)
    for _ in range(2):  # an invalid connection is refused every time, never remembered
        with pytest.raises(ValueError, match="not an IP"):
            authorizer.check_raw(**base, port=80, principal=None, mtls=False, source_ip="nope")


def test_a_nul_in_the_path_is_refused_before_the_policies() -> None:
    decision = _authorizer().check_raw(
        method="GET",
        target=b"/pay/%00",
        host=None,
        port=None,
        headers=[],
        principal=FRONT,
        mtls=True,
        source_ip=None,
        destination_ip=None,
        sni=None,
    )
    assert not decision.allowed and "%00" in decision.reason


def test_headers_given_once_as_an_iterator_decide_as_a_list() -> None:
    authorizer = _authorizer()
    request: dict[str, Any] = {
        "method": "GET",
        "target": b"/pay/42",
        "host": None,
        "port": 8080,
        "headers": [(b"user-agent", b"u"), (b"x-debug", b"1")],
        "peer": (FRONT, True),
        "source_ip": None,
        "destination_ip": None,
        "sni": None,
    }
    listed, _ = _both(authorizer, request)
    once, _ = _both(authorizer, {**request, "headers": iter(request["headers"])})
    assert not listed.allowed and listed.policy == "shop/deny-debug"
    assert once == listed


def test_a_path_seen_before_decides_as_the_first_time() -> None:
    authorizer = _authorizer()
    base: dict[str, Any] = {
        "method": "GET",
        "host": None,
        "port": 8080,
        "headers": [],
        "peer": (FRONT, True),
        "source_ip": None,
        "destination_ip": None,
        "sni": None,
    }
    long = b"/a/../pay/%34%32?" + b"q" * 300  # normalized each time, not kept
    for _ in range(2):  # the second time from the table of normalized paths
        allowed, _ = _both(authorizer, {**base, "target": b"/a/../pay/%34%32?q"})
        allowed_long, _ = _both(authorizer, {**base, "target": long})
        assert allowed_long == allowed
        refused = authorizer.check_raw(
            **{k: v for k, v in base.items() if k != "peer"},
            target=b"/pay/%00",
            principal=FRONT,
            mtls=True,
        )
        assert allowed.allowed and allowed.policy == "shop/allow"
        assert not refused.allowed and "%00" in refused.reason
