"""Istio's evaluation order: CUSTOM refused, DENY first, ALLOW, AUDIT and dry-run reported."""

from __future__ import annotations

import pytest

from inmesh import ConfigError
from inmesh.security import Authorizer, AuthzRequest, check

from ._policies import FRONT, decide, load, only, op, policy, src

GET = {"method": "GET", "path": "/"}


def test_no_policy_allows() -> None:
    d = decide(**GET)
    assert (d.allowed, d.policy, d.action) == (True, None, "ALLOW")
    assert d.reason == "no ALLOW policy applies to the workload"


def test_allow_policy_without_rules_denies_everything() -> None:
    # rules absent: the policy matches nothing, and an ALLOW policy applies -> deny.
    d = decide(policy("allow-nothing"), **GET)
    assert (d.allowed, d.policy, d.action) == (False, None, "DENY")
    assert d.reason == "no ALLOW policy matched"


def test_empty_rules_list_also_matches_nothing() -> None:
    assert not decide(policy(rules=[]), **GET).allowed


def test_one_empty_rule_matches_everything() -> None:
    d = decide(policy("allow-all", rules=[{}]), **GET)
    assert (d.allowed, d.policy, d.rule) == (True, "shop/allow-all", 0)


def test_deny_wins_over_allow() -> None:
    d = decide(policy("all", rules=[{}]), policy("no", action="DENY", rules=[{}]), **GET)
    assert (d.allowed, d.policy, d.action) == (False, "shop/no", "DENY")


def test_deny_that_does_not_match_leaves_allow_to_decide() -> None:
    deny = policy("no-post", action="DENY", rules=[op(methods=["POST"])])
    assert decide(deny, **GET).allowed
    assert not decide(deny, method="POST", path="/").allowed


def test_allow_match_reports_policy_and_rule() -> None:
    p = policy("two", rules=[op(methods=["PUT"]), op(methods=["GET"])])
    d = decide(p, **GET)
    assert (d.allowed, d.policy, d.rule) == (True, "shop/two", 1)


def test_audit_never_decides_but_is_reported() -> None:
    audit = policy("log", action="AUDIT", rules=[{}])
    d = decide(audit, **GET)
    assert (d.allowed, d.policy, d.audit_policy) == (True, None, "shop/log")
    d = decide(audit, policy("nothing"), **GET)
    assert (d.allowed, d.audit_policy) == (False, "shop/log")


def test_custom_is_refused_by_name() -> None:
    custom = policy("ext", action="CUSTOM", rules=[{}], provider={"name": "opa"})
    with pytest.raises(ConfigError) as info:
        Authorizer(load(custom))
    (problem,) = info.value.problems
    assert problem.field == "spec.action"
    assert "CUSTOM" in problem.message and "not supported yet" in problem.message
    assert (problem.kind, problem.namespace, problem.name) == ("AuthorizationPolicy", "shop", "ext")


DRY = {"istio.io/dry-run": "true"}


def test_dry_run_deny_never_denies_and_is_reported() -> None:
    d = decide(policy("would-deny", action="DENY", rules=[{}], annotations=DRY), **GET)
    assert (d.allowed, d.policy) == (True, None)
    assert (d.dry_run_policy, d.dry_run_allowed) == ("shop/would-deny", False)


def test_dry_run_allow_does_not_count_as_an_applicable_allow_policy() -> None:
    # Only a dry-run ALLOW policy, not matching: enforced, it would deny; in dry-run, allowed.
    p = policy("would-allow", rules=[op(methods=["POST"])], annotations=DRY)
    d = decide(p, **GET)
    assert d.allowed and d.policy is None
    assert (d.dry_run_policy, d.dry_run_allowed) == (None, False)
    d = decide(p, method="POST", path="/")
    assert (d.allowed, d.dry_run_policy, d.dry_run_allowed) == (True, "shop/would-allow", True)


def test_dry_run_false_is_enforced() -> None:
    d = decide(
        policy("real", action="DENY", rules=[{}], annotations={"istio.io/dry-run": "F"}), **GET
    )
    assert (d.allowed, d.policy, d.dry_run_allowed) == (False, "shop/real", None)


def test_dry_run_annotation_must_be_a_boolean() -> None:
    bad = policy("x", rules=[{}], annotations={"istio.io/dry-run": "yes"})
    with pytest.raises(ConfigError) as info:
        Authorizer(load(bad))
    assert info.value.problems[0].field == 'metadata.annotations["istio.io/dry-run"]'


def test_scope_namespace_root_and_selector() -> None:
    here = policy("here", rules=[op(methods=["GET"])])
    root = policy("root", namespace="istio-system", action="DENY", rules=[op(methods=["DELETE"])])
    other = policy("other", namespace="elsewhere", action="DENY", rules=[{}])
    picky = policy("picky", action="DENY", rules=[{}], selector={"app": "db"})
    authorizer = Authorizer(load(here, root, other, picky))
    web = authorizer.for_workload(namespace="shop", labels={"app": "web"})
    assert web.policies == ("istio-system/root", "shop/here")
    db = authorizer.for_workload(namespace="shop", labels={"app": "db", "v": "1"})
    assert db.policies == ("istio-system/root", "shop/here", "shop/picky")
    assert web.check(AuthzRequest(method="GET")).allowed
    assert not web.check(AuthzRequest(method="DELETE")).allowed
    assert not db.check(AuthzRequest(method="GET")).allowed
    assert authorizer.for_workload(namespace="shop", labels={"app": "web"}) is web


def test_root_namespace_is_configurable() -> None:
    root = policy("mesh", namespace="mesh-root", action="DENY", rules=[{}])
    assert check(load(root), namespace="shop", request=AuthzRequest()).allowed
    d = check(load(root), namespace="shop", request=AuthzRequest(), root_namespace="mesh-root")
    assert (d.allowed, d.policy) == (False, "mesh-root/mesh")


def test_later_policy_with_same_name_replaces_earlier() -> None:
    first = policy("p", action="DENY", rules=[{}])
    second = policy("p", rules=[{}])
    assert decide(first, second, **GET).allowed


def test_other_kinds_are_skipped() -> None:
    pa = {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": {"name": "default", "namespace": "shop"},
        "spec": {"mtls": {"mode": "STRICT"}},
    }
    assert check(load(pa), namespace="shop", request=AuthzRequest()).allowed


def test_the_frontend_example() -> None:
    # "only the frontend service is allowed to call the payments service"
    p = policy("pay", rules=[src(principals=[FRONT])], selector={"app": "payments"})
    lab = {"app": "payments"}
    assert decide(p, labels=lab, source_principal=FRONT).allowed
    assert not decide(p, labels=lab, source_principal="cluster.local/ns/shop/sa/other").allowed
    assert not decide(p, labels=lab).allowed  # plaintext
    assert decide(p, labels={"app": "cart"}).allowed  # not selected


def test_rule_parts_are_anded_and_lists_ored() -> None:
    rule = {
        "from": [{"source": {"principals": [FRONT]}}, {"source": {"namespaces": ["ops"]}}],
        "to": [{"operation": {"methods": ["GET"]}}, {"operation": {"paths": ["/admin"]}}],
        "when": [{"key": "request.headers[x-a]", "values": ["1"]}],
    }
    p = only(rule)
    ok = {"headers": {"x-a": "1"}}
    assert allowed_(p, source_principal=FRONT, method="GET", **ok)
    assert allowed_(p, source_principal="cluster.local/ns/ops/sa/z", path="/admin", **ok)
    assert not allowed_(p, source_principal=FRONT, method="GET")  # when fails
    assert not allowed_(p, source_principal=FRONT, method="POST", path="/x", **ok)  # to fails
    assert not allowed_(p, method="GET", **ok)  # from fails


def allowed_(*docs: object, **request: object) -> bool:
    return decide(*docs, **request).allowed  # type: ignore[arg-type]


def test_generated_source_is_exposed() -> None:
    authorizer = Authorizer(load(policy("x", rules=[op(methods=["GET"])])))
    source = authorizer.for_workload(namespace="shop").source
    assert "def _match_allow" in source and "# ALLOW shop/x" in source
