"""Every source, operation and condition field, with Istio's string and IP matching."""

from __future__ import annotations

from typing import Any

import pytest

from inmesh import ConfigError
from inmesh.security import Authorizer, AuthzRequest, check

from ._policies import (
    FRONT,
    decide,
    load,
    only,
    op,
    policy,
    src,
    unvalidated_condition,
    when,
)


def check_(resources: Any, **request: Any) -> bool:
    return check(resources, namespace="shop", request=AuthzRequest(**request)).allowed


def allow_if(rule: dict[str, Any], **request: Any) -> bool:
    """Whether an ALLOW policy with ``rule`` lets the request in."""
    return decide(only(rule), **request).allowed


# -- principals -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "principal", "expected"),
    [
        (FRONT, FRONT, True),
        (FRONT, "cluster.local/ns/shop/sa/front2", False),
        ("cluster.local/ns/shop/*", FRONT, True),
        ("cluster.local/ns/ops/*", FRONT, False),
        ("*/sa/front", FRONT, True),
        ("*/sa/back", FRONT, False),
        ("*", FRONT, True),
        ("spiffe://" + FRONT, FRONT, False),  # Istio adds the scheme itself
    ],
)
def test_principals(value: str, principal: str, expected: bool) -> None:
    assert allow_if(src(principals=[value]), source_principal=principal) is expected


def test_a_principal_given_with_its_scheme_is_read_without() -> None:
    assert allow_if(src(principals=[FRONT]), source_principal="spiffe://" + FRONT)


def test_principal_rules_need_mtls() -> None:
    assert not allow_if(src(principals=["*"]))
    assert not allow_if(src(namespaces=["*"]))
    assert allow_if(src(principals=["*"]), mtls=True)  # mTLS peer without a SPIFFE ID


def test_not_principals_match_plaintext() -> None:
    # Istio's "require mTLS" recipe: DENY notPrincipals ["*"] refuses plaintext.
    deny = only(src(notPrincipals=["*"]), action="DENY")
    assert not decide(deny).allowed
    assert decide(deny, source_principal=FRONT).allowed
    rule = src(notPrincipals=["cluster.local/ns/shop/sa/evil"])
    assert allow_if(rule, source_principal=FRONT)
    assert not allow_if(rule, source_principal="cluster.local/ns/shop/sa/evil")
    assert allow_if(rule)


def test_plaintext_request_with_a_principal_is_a_contradiction() -> None:
    with pytest.raises(ValueError, match="plaintext"):
        AuthzRequest(source_principal=FRONT, mtls=False)
    with pytest.raises(ValueError, match="does not match"):
        AuthzRequest(source_principal=FRONT, source_namespace="ops")


# -- namespaces, service accounts, trust domains -------------------------------------


@pytest.mark.parametrize(
    ("value", "principal", "expected"),
    [
        ("shop", FRONT, True),
        ("sho", FRONT, False),
        ("shop-*", "cluster.local/ns/shop-eu/sa/x", True),
        ("shop-*", FRONT, False),
        ("*-eu", "cluster.local/ns/shop-eu/sa/x", True),
        ("*", FRONT, True),
        # Istio's regex ".*/ns/.*a/.*" also finds "a/" in "sa/": quirk kept.
        ("*a", "cluster.local/ns/x/sa/y", True),
    ],
)
def test_namespaces(value: str, principal: str, expected: bool) -> None:
    assert allow_if(src(namespaces=[value]), source_principal=principal) is expected


def test_namespace_without_principal() -> None:
    assert allow_if(src(namespaces=["shop"]), source_namespace="shop")
    assert not allow_if(src(namespaces=["ops"]), source_namespace="shop")
    assert not allow_if(src(principals=["*/ns/shop/*"]), source_namespace="shop")
    assert allow_if(src(notNamespaces=["ops"]), source_namespace="shop")


@pytest.mark.parametrize(
    ("value", "principal", "expected"),
    [
        ("front", FRONT, True),  # the policy's namespace
        ("front", "cluster.local/ns/ops/sa/front", False),
        ("ops/front", "cluster.local/ns/ops/sa/front", True),
        ("ops/front", FRONT, False),
        ("fro", FRONT, False),
    ],
)
def test_service_accounts(value: str, principal: str, expected: bool) -> None:
    assert allow_if(src(serviceAccounts=[value]), source_principal=principal) is expected
    by_key = unvalidated_condition("source.serviceAccount", [value])
    assert check_(by_key, source_principal=principal) is expected


def test_not_service_accounts() -> None:
    rule = src(notServiceAccounts=["front"])
    assert not allow_if(rule, source_principal=FRONT)
    assert allow_if(rule, source_principal="cluster.local/ns/shop/sa/back")


@pytest.mark.parametrize(
    ("value", "principal", "expected"),
    [
        ("cluster.local", FRONT, True),
        ("cluster", FRONT, False),
        ("cluster.*", FRONT, True),
        ("*.local", FRONT, True),
        ("*.remote", FRONT, False),
        ("*", FRONT, True),
    ],
)
def test_trust_domains(value: str, principal: str, expected: bool) -> None:
    assert allow_if(src(trustDomains=[value]), source_principal=principal) is expected
    by_key = unvalidated_condition("source.trustDomain", [value])
    assert check_(by_key, source_principal=principal) is expected
    assert allow_if(src(trustDomains=[value])) is False


def test_not_trust_domains() -> None:
    assert not allow_if(src(notTrustDomains=["cluster.local"]), source_principal=FRONT)
    assert allow_if(src(notTrustDomains=["other.org"]), source_principal=FRONT)


# -- IPs ---------------------------------------------------------------------------------


def test_ip_blocks() -> None:
    rule = src(ipBlocks=["10.0.0.0/8", "192.168.1.7"])
    assert allow_if(rule, source_ip="10.2.3.4")
    assert allow_if(rule, source_ip="192.168.1.7")
    assert not allow_if(rule, source_ip="192.168.1.8")
    assert not allow_if(rule, source_ip="::1")
    assert not allow_if(rule)
    assert allow_if(src(ipBlocks=["::/0"]), source_ip="::1")
    assert allow_if(src(notIpBlocks=["10.0.0.0/8"]), source_ip="127.0.0.1")
    assert not allow_if(src(notIpBlocks=["10.0.0.0/8"]), source_ip="10.0.0.1")


def test_remote_ip_blocks_default_to_the_source_ip() -> None:
    rule = src(remoteIpBlocks=["203.0.113.0/24"])
    assert allow_if(rule, source_ip="203.0.113.9")
    assert not allow_if(rule, source_ip="203.0.113.9", remote_ip="198.51.100.1")
    assert allow_if(rule, source_ip="10.0.0.1", remote_ip="203.0.113.1")
    assert allow_if(src(notRemoteIpBlocks=["203.0.113.0/24"]), remote_ip="1.1.1.1")


def test_ip_conditions() -> None:
    assert allow_if(when("source.ip", ["10.0.0.0/8"]), source_ip="10.1.1.1")
    assert allow_if(when("remote.ip", None, ["10.0.0.0/8"]), remote_ip="11.1.1.1")
    assert allow_if(when("destination.ip", ["127.0.0.1"]), destination_ip="127.0.0.1")
    assert not allow_if(when("destination.ip", ["127.0.0.1"]), destination_ip="127.0.0.2")


def test_a_bad_request_ip_is_an_error() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        decide(only(src(ipBlocks=["10.0.0.0/8"])), source_ip="ten")


# -- operation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "host", "expected"),
    [
        ("shop.example.com", "SHOP.example.com", True),  # case-insensitive
        ("shop.example.com", "shop.example.com:8080", False),  # the Host as sent
        ("shop.example.com:*", "shop.example.com:8080", True),
        ("*.example.com", "api.Example.COM", True),
        ("*", "anything", True),
        ("*", None, False),
    ],
)
def test_hosts(value: str, host: str | None, expected: bool) -> None:
    assert allow_if(op(hosts=[value]), host=host) is expected


def test_not_hosts() -> None:
    assert not allow_if(op(notHosts=["*.internal"]), host="db.INTERNAL")
    assert allow_if(op(notHosts=["*.internal"]), host="web.example.com")


def test_ports() -> None:
    assert allow_if(op(ports=["8080", "9090"]), port=9090)
    assert not allow_if(op(ports=["8080"]), port=80)
    assert not allow_if(op(ports=["8080"]))
    assert allow_if(op(notPorts=["8080"]), port=80)
    assert allow_if(when("destination.port", ["80"]), port=80)


@pytest.mark.parametrize(
    ("value", "method", "expected"),
    [
        ("GET", "GET", True),
        ("GET", "get", False),  # case-sensitive (Envoy rejects lower-case methods)
        ("P*", "POST", True),
        ("*T", "GET", True),
        ("*", "PATCH", True),
    ],
)
def test_methods(value: str, method: str, expected: bool) -> None:
    assert allow_if(op(methods=[value]), method=method) is expected


def test_not_methods() -> None:
    assert not allow_if(op(notMethods=["DELETE"]), method="DELETE")
    assert allow_if(op(notMethods=["DELETE"]), method="GET")


@pytest.mark.parametrize(
    ("value", "path", "expected"),
    [
        ("/api", "/api", True),
        ("/api", "/api?x=1", True),  # the query is dropped
        ("/api", "/api/", False),
        ("/api/*", "/api/v1", True),
        ("*.json", "/x/y.json?z", True),
        ("*", "/", True),
        ("/admin", "/public/../admin", True),  # dot segments
        ("/admin", "/%61dmin", True),  # unreserved characters decoded
        ("/admin", "/public/%2E%2e/admin", True),  # %2E is a dot
        ("/a/b", "/a%2Fb", False),  # %2F stays encoded with BASE
        ("/a/b", "/a\\b", True),  # backslash is a slash
        ("/a/b", "/a//b", False),  # slashes are not merged
        ("/api/{*}/x", "/api/v1/x", True),
        ("/api/{*}/x", "/api//x", False),
        ("/api/{*}/x", "/api/v1/v2/x", False),
        ("/api/{**}", "/api/", True),
        ("/api/{**}", "/api/a/b/c?q", True),
        ("/api/{**}", "/apix/a", False),
        ("/{*}/{**}", "/a", False),
        ("/{*}/{**}", "/a/", True),
    ],
)
def test_paths(value: str, path: str, expected: bool) -> None:
    assert allow_if(op(paths=[value]), path=path) is expected


def test_not_paths() -> None:
    deny = only(op(paths=["/admin*"]), action="DENY")
    assert not decide(deny, path="/public/../admin/x").allowed
    assert decide(deny, path="/public").allowed
    assert allow_if(op(notPaths=["/admin*"]), path="/x")
    assert not allow_if(op(notPaths=["/admin*"]), path="/admin/x")


def test_a_null_byte_in_the_path_is_denied_before_policies() -> None:
    d = decide(policy("all", rules=[op(paths=["*"])]), path="/a%00b")
    assert (d.allowed, d.policy) == (False, None)
    assert "%00" in d.reason


# -- conditions --------------------------------------------------------------------------


def test_request_headers() -> None:
    assert allow_if(when("request.headers[X-Env]", ["prod"]), headers={"x-env": "prod"})
    assert not allow_if(when("request.headers[x-env]", ["prod"]), headers={"x-env": "dev"})
    assert allow_if(when("request.headers[x-env]", ["pr*"]), headers={"X-ENV": "prod"})
    assert allow_if(when("request.headers[x-env]", ["*"]), headers={"x-env": ""})
    assert not allow_if(when("request.headers[x-env]", ["*"]))
    assert allow_if(when("request.headers[x-env]", None, ["dev"]))
    assert not allow_if(when("request.headers[x-env]", None, ["dev"]), headers={"x-env": "dev"})


def test_repeated_headers_are_joined_with_commas() -> None:
    rule = when("request.headers[x-tag]", ["a,b"])
    assert allow_if(rule, headers=[("X-Tag", "a"), ("x-tag", "b")])


def test_source_principal_and_namespace_conditions() -> None:
    assert allow_if(when("source.principal", [FRONT]), source_principal=FRONT)
    assert not allow_if(when("source.principal", [FRONT]))
    assert allow_if(when("source.namespace", ["shop"]), source_principal=FRONT)
    assert allow_if(when("source.namespace", None, ["ops"]), source_principal=FRONT)


def test_connection_sni() -> None:
    assert allow_if(when("connection.sni", ["*.example.com"]), sni="a.example.com")
    assert not allow_if(when("connection.sni", ["*"]))  # ".+": no SNI does not match
    assert allow_if(when("connection.sni", None, ["a.example.com"]))


# -- refused by name -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "field", "word"),
    [
        (
            only(src(requestPrincipals=["iss/sub"])),
            "spec.rules[0].from[0].source.requestPrincipals",
            "requestPrincipals",
        ),
        (
            only(src(notRequestPrincipals=["*"])),
            "spec.rules[0].from[0].source.notRequestPrincipals",
            "notRequestPrincipals",
        ),
        (
            only(when("request.auth.claims[iss]", ["x"])),
            "spec.rules[0].when[0].key",
            "request.auth.claims[iss]",
        ),
        (
            only(when("request.auth.principal", ["x"])),
            "spec.rules[0].when[0].key",
            "request.auth.principal",
        ),
        (
            only(when("experimental.envoy.filters.a.b[c]", ["x"])),
            "spec.rules[0].when[0].key",
            "experimental.envoy.filters",
        ),
        (
            policy(rules=[{}], targetRefs=[{"kind": "Service", "group": "", "name": "web"}]),
            "spec.targetRefs",
            "targetRefs",
        ),
        (
            policy(rules=[{}], targetRef={"kind": "Service", "group": "", "name": "web"}),
            "spec.targetRef",
            "targetRef",
        ),
    ],
)
def test_unsupported_fields_are_refused_by_name(doc: dict[str, Any], field: str, word: str) -> None:
    with pytest.raises(ConfigError) as info:
        Authorizer(load(doc))
    (problem,) = info.value.problems
    assert problem.field == field
    assert word in problem.message and "not supported yet" in problem.message
    assert problem.resource == "AuthorizationPolicy shop/p"


def test_every_problem_of_every_policy_is_reported(tmp_path: Any) -> None:
    from inmesh.config import load_config

    path = tmp_path / "p.yaml"
    path.write_text(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
        "metadata: {name: a, namespace: shop}\nspec:\n  action: CUSTOM\n"
        "  provider: {name: opa}\n  rules: [{}]\n---\n"
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
        "metadata: {name: b, namespace: shop}\nspec:\n"
        "  rules: [{from: [{source: {requestPrincipals: [x]}}]}]\n"
    )
    with pytest.raises(ConfigError) as info:
        Authorizer(load_config(path))
    located = [(p.file, p.document, p.name) for p in info.value.problems]
    assert located == [(str(path), 1, "a"), (str(path), 2, "b")]
