"""AuthorizationPolicy validation rules from Istio's ``pkg/config/security`` checks:
service accounts, trust domains, path templates and condition keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from inmesh.config import AuthorizationPolicy

from ._helpers import assert_problem, load

AP = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: policy\n"
SRC = "spec.rules[0].from[0].source"
OP = "spec.rules[0].to[0].operation"
WHEN = "spec.rules[0].when[0]"


@pytest.mark.parametrize(
    "rules",
    [
        # serviceAccounts: "sa" or "namespace/sa"; with trust domains and IPs.
        "[{from: [{source: {serviceAccounts: [default/productpage, reviews]}}]}]",
        "[{from: [{source: {notServiceAccounts: [ns/sa], ipBlocks: [10.0.0.0/8]}}]}]",
        # trustDomains: exact, prefix, suffix, presence.
        '[{from: [{source: {trustDomains: [cluster.local, "td-*", "*-td", "*"]}}]}]',
        # {**} may be followed by literal segments; only another operator after it is not.
        '[{to: [{operation: {paths: ["/{**}/path/template", "/a/{*}/b/{**}"]}}]}]',
        '[{to: [{operation: {paths: ["/{*}/x:y@z=1"]}}]}]',
        # Condition keys Istio accepts.
        "[{when: [{key: source.serviceAccount, values: [default/productpage]}]}]",
        '[{when: [{key: source.trustDomain, values: ["cluster.*"]}]}]',
        "[{when: [{key: 'request.auth.claims[a][b]', values: [x]}]}]",
        "[{when: [{key: 'experimental.envoy.filters.a.b[c]', values: [x]}]}]",
    ],
)
def test_valid_policies(tmp_path: Path, rules: str) -> None:
    [ap] = load(tmp_path, AP + f"spec:\n  rules: {rules}\n")
    assert isinstance(ap, AuthorizationPolicy)
    assert ap.spec.rules is not None and len(ap.spec.rules) == 1


@pytest.mark.parametrize(
    ("rules", "field", "says"),
    [
        (
            "[{from: [{source: {serviceAccounts: [ns/sa], namespaces: [ns]}}]}]",
            SRC,
            "cannot set serviceAccounts with namespaces or principals",
        ),
        (
            "[{from: [{source: {notServiceAccounts: [sa], principals: [p]}}]}]",
            SRC,
            "cannot set serviceAccounts with namespaces or principals",
        ),
        (
            '[{from: [{source: {serviceAccounts: ["ns/*"]}}]}]',
            f"{SRC}.serviceAccounts[0]",
            "wildcard not allowed",
        ),
        (
            "[{from: [{source: {serviceAccounts: [a/b/c]}}]}]",
            f"{SRC}.serviceAccounts[0]",
            "expected format",
        ),
        (
            "[{from: [{source: {serviceAccounts: [/sa]}}]}]",
            f"{SRC}.serviceAccounts[0]",
            "empty namespace",
        ),
        (
            "[{from: [{source: {notServiceAccounts: [ns/]}}]}]",
            f"{SRC}.notServiceAccounts[0]",
            "empty serviceAccount",
        ),
        (
            f"[{{from: [{{source: {{serviceAccounts: [ns/{'a' * 320}]}}}}]}}]",
            f"{SRC}.serviceAccounts[0]",
            "cannot exceed 320 characters",
        ),
        (
            '[{from: [{source: {trustDomains: ["a*b"]}}]}]',
            f"{SRC}.trustDomains[0]",
            "only allowed at the start or end",
        ),
        (
            '[{from: [{source: {notTrustDomains: ["*a*"]}}]}]',
            f"{SRC}.notTrustDomains[0]",
            "at most one wildcard",
        ),
        (
            "[{from: [{source: {trustDomains: [td/ns]}}]}]",
            f"{SRC}.trustDomains[0]",
            "must not contain '/'",
        ),
        (
            '[{to: [{operation: {paths: ["/{**}/{*}"]}}]}]',
            f"{OP}.paths[0]",
            "{**} is not the last operator",
        ),
        (
            '[{to: [{operation: {paths: ["/{**}/a/{**}"]}}]}]',
            f"{OP}.paths[0]",
            "{**} is not the last operator",
        ),
        (
            '[{to: [{operation: {notPaths: ["/a{*}"]}}]}]',
            f"{OP}.notPaths[0]",
            "beyond a supported path template",
        ),
        (
            '[{to: [{operation: {paths: ["/{*}/a b"]}}]}]',
            f"{OP}.paths[0]",
            "invalid string literal",
        ),
        (
            '[{when: [{key: source.serviceAccount, values: ["*"]}]}]',
            f"{WHEN}.values[0]",
            "wildcard not allowed",
        ),
        (
            '[{when: [{key: source.trustDomain, notValues: ["a*b"]}]}]',
            f"{WHEN}.notValues[0]",
            "only allowed at the start or end",
        ),
        ("[{when: [{key: 'request.auth.claims[]', values: [x]}]}]", f"{WHEN}.key", "a[b]"),
        ("[{when: [{key: 'request.headers', values: [x]}]}]", f"{WHEN}.key", "a[b]"),
        (
            "[{when: [{key: destination.namespace, values: [x]}]}]",
            f"{WHEN}.key",
            "replaced by the metadata.namespace",
        ),
        (
            "[{when: [{key: 'destination.labels[app]', values: [x]}]}]",
            f"{WHEN}.key",
            "replaced by the workload selector",
        ),
        ("[{when: [{key: source.namespace, values: ['']}]}]", f"{WHEN}.values[0]", "empty"),
    ],
)
def test_invalid_policies(tmp_path: Path, rules: str, field: str, says: str) -> None:
    assert_problem(
        tmp_path,
        AP + f"spec:\n  rules: {rules}\n",
        field=field,
        says=says,
        resource="AuthorizationPolicy default/policy",
    )


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ("{from: [{source: {serviceAccounts: [sa]}}]}", f"{SRC}.serviceAccounts"),
        ("{from: [{source: {notTrustDomains: [td]}}]}", f"{SRC}.notTrustDomains"),
        ("{when: [{key: source.serviceAccount, values: [sa]}]}", f"{WHEN}.key"),
        ("{when: [{key: source.trustDomain, values: [td]}]}", f"{WHEN}.key"),
    ],
)
def test_custom_action_refuses_identity_matches(tmp_path: Path, rule: str, field: str) -> None:
    # validation.go: CUSTOM policies cannot match on the peer's identity.
    assert_problem(
        tmp_path,
        AP + f"spec:\n  action: CUSTOM\n  provider: {{name: ext}}\n  rules: [{rule}]\n",
        field=field,
        says="is currently not supported with CUSTOM action",
    )
