"""What the runtime refuses, the documentation generated from it, and the public surface."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

import inmesh.config
from inmesh.config import (
    UNSUPPORTED_FIELDS,
    UNSUPPORTED_VALUES,
    parse_documents,
    unsupported_problems,
)
from inmesh.config._field_rows import field_rows
from inmesh.config._reference import BEGIN, END, render_reference
from inmesh.config._support import (
    KIND_STATUS,
    UNSUPPORTED,
    UNSUPPORTED_KINDS,
    Above,
)

DOCS = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"


def _one(text: str) -> object:
    [resource] = parse_documents([yaml.safe_load(text)])
    return resource


def test_unsupported_fields_table() -> None:
    assert set(UNSUPPORTED_FIELDS["VirtualService"]) == {
        "spec.http[].corsPolicy",
        "spec.http[].delegate",
        "spec.http[].directResponse",
        "spec.http[].redirect.prefixRewrite",
        "spec.http[].retries.retryRemoteLocalities",
        "spec.http[].fault.delay.exponentialDelay",
        "spec.http[].fault.abort.grpcStatus",
        "spec.http[].fault.abort.http2Error",
        "spec.tls",
        "spec.tcp",
    }
    dr = set(UNSUPPORTED_FIELDS["DestinationRule"])
    for policy in ("spec.trafficPolicy", "spec.subsets[].trafficPolicy"):
        assert {
            f"{policy}.tunnel",
            f"{policy}.proxyProtocol",
            f"{policy}.loadBalancer.warmup",
            f"{policy}.portLevelSettings[].loadBalancer.warmupDurationSecs",
        } <= dr
    assert not {"spec.exportTo", "spec.workloadSelector"} & dr  # routing honours both
    assert "spec.trafficPolicy.tls.credentialName" in dr
    assert "spec.trafficPolicy.connectionPool.http.maxConcurrentStreams" in dr
    assert "ServiceEntry" not in UNSUPPORTED_FIELDS  # subjectAltNames: mesh mTLS identities
    assert "WorkloadEntry" not in UNSUPPORTED_FIELDS
    assert UNSUPPORTED_VALUES["ServiceEntry"] == (("spec.resolution", "DYNAMIC_DNS"),)
    assert ("spec.trafficPolicy.connectionPool.http.maxRequestsPerConnection", Above(1)) in (
        UNSUPPORTED_VALUES["DestinationRule"]
    )
    assert UNSUPPORTED_KINDS == {}  # security kinds are enforced now
    # ISTIO_MUTUAL is the mesh's own mTLS (outbound/): supported
    assert ("spec.trafficPolicy.tls.mode", "ISTIO_MUTUAL") not in (
        UNSUPPORTED_VALUES["DestinationRule"]
    )


def test_unsupported_problems_name_each_field_set() -> None:
    vs = _one("""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [web]
  http:
  - route: [{destination: {host: web}}]
  - corsPolicy: {allowOrigins: [{exact: "https://a.example"}]}
    route: [{destination: {host: web}}]
  tcp:
  - route: [{destination: {host: web}}]
""")
    found = unsupported_problems(vs, file="web.yaml", document=2)
    assert [(p.field, p.message) for p in found] == [
        ("spec.http[1].corsPolicy", "corsPolicy is not supported yet"),
        ("spec.tcp", "tcp is not supported yet"),
    ]
    assert str(found[0]) == (
        "web.yaml (document 2): VirtualService shop/web: "
        "spec.http[1].corsPolicy: corsPolicy is not supported yet"
    )


def test_unsupported_problems_in_nested_policies() -> None:
    dr = _one("""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: db}
spec:
  host: db
  subsets:
  - name: v1
    trafficPolicy:
      proxyProtocol: {version: V2}
      portLevelSettings:
      - port: {number: 5432}
        loadBalancer: {simple: RANDOM, warmupDurationSecs: 30s}
""")
    assert [p.field for p in unsupported_problems(dr)] == [
        "spec.subsets[0].trafficPolicy.portLevelSettings[0].loadBalancer.warmupDurationSecs",
        "spec.subsets[0].trafficPolicy.proxyProtocol",
    ]


def test_unsupported_values() -> None:
    se = _one("""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: any}
spec:
  hosts: ["*.example.com"]
  resolution: DYNAMIC_DNS
  ports: [{number: 443, name: https, protocol: TLS}]
""")
    [problem] = unsupported_problems(se)
    assert (problem.field, problem.message) == (
        "spec.resolution",
        "resolution DYNAMIC_DNS is not supported yet",
    )


def test_supported_configuration_has_no_problems() -> None:
    vs = _one("""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [r]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    fault: {delay: {fixedDelay: 7s, percentage: {value: 100}}}
    route: [{destination: {host: r, subset: v1}}]
""")
    assert unsupported_problems(vs) == []
    assert unsupported_problems(object()) == []


def test_every_unsupported_path_exists_in_the_models() -> None:
    for kind, paths in UNSUPPORTED_FIELDS.items():
        known = {row.path for row in field_rows(kind, collapse=False)}
        assert set(paths) <= known
        assert all(
            row.status == UNSUPPORTED
            for row in field_rows(kind, collapse=False)
            if row.path in paths
        )


def test_docs_reference_is_generated_from_the_models() -> None:
    text = DOCS.read_text(encoding="utf-8")
    block = text[text.index(BEGIN) : text.index(END) + len(END) + 1]
    assert block == render_reference(), (
        "docs/configuration.md is stale: run `.venv/bin/python -m inmesh.config._reference "
        "docs/configuration.md`"
    )


def test_docs_list_every_field_with_a_status() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for kind in KIND_STATUS:
        for row in field_rows(kind):
            assert f"| `{row.path}` |" in text, (kind, row.path)
            assert row.status


def test_public_surface() -> None:
    names = inmesh.config.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(inmesh.config, name), name
    models = {
        n
        for n in names
        if isinstance(getattr(inmesh.config, n), type)
        and issubclass(getattr(inmesh.config, n), BaseModel)
    }
    assert {
        "VirtualService",
        "DestinationRule",
        "ServiceEntry",
        "WorkloadEntry",
        "Gateway",
        "PeerAuthentication",
        "AuthorizationPolicy",
        "KubeService",
        "KubeServiceAccount",
        "KubeDeployment",
        "HTTPRoute",
        "StringMatch",
        "TrafficPolicy",
    } <= models
    for name in (
        "load_config",
        "parse_documents",
        "dump_resource",
        "unsupported_problems",
        "UNSUPPORTED_FIELDS",
        "Resource",
    ):
        assert name in names


@pytest.mark.parametrize("kind", ["AuthorizationPolicy", "PeerAuthentication"])
@pytest.mark.parametrize("spec", ["{}", "{selector: {matchLabels: {app: a}}}"])
def test_security_policies_are_enforced(kind: str, spec: str) -> None:
    # `spec: {}` is Istio's allow-nothing AuthorizationPolicy: enforced inbound
    policy = _one(f"""
apiVersion: security.istio.io/v1
kind: {kind}
metadata: {{name: deny-all, namespace: istio-system}}
spec: {spec}
""")
    assert unsupported_problems(policy) == []


def test_what_authorization_cannot_enforce_is_refused_by_name() -> None:
    policy = _one("""
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext, namespace: shop}
spec:
  action: CUSTOM
  provider: {name: opa}
  rules: [{}]
""")
    jwt = _one("""
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext, namespace: shop}
spec:
  rules: [{from: [{source: {requestPrincipals: ["*"]}}]}]
""")
    problems = unsupported_problems(policy) + unsupported_problems(jwt)
    assert {p.code for p in problems} == {"INM0002"}
    text = " ".join(f"{p.field}: {p.message}" for p in problems)
    assert "CUSTOM" in text and "requestPrincipals" in text and "not supported yet" in text
    assert all(p.resource == "AuthorizationPolicy shop/ext" for p in problems)


def test_unsupported_values_above_a_limit() -> None:
    def rule(n: int) -> object:
        return _one(f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: r}}
spec:
  host: r
  trafficPolicy:
    connectionPool: {{http: {{maxRequestsPerConnection: {n}}}}}
    portLevelSettings:
    - port: {{number: 80}}
      connectionPool: {{http: {{maxRequestsPerConnection: {n}}}}}
""")

    assert unsupported_problems(rule(1)) == []  # 1: no keep-alive, which inmesh does
    found = unsupported_problems(rule(2))
    assert [(p.field, p.message) for p in found] == [
        (
            "spec.trafficPolicy.connectionPool.http.maxRequestsPerConnection",
            "maxRequestsPerConnection above 1 is not supported yet",
        ),
        (
            "spec.trafficPolicy.portLevelSettings[0].connectionPool.http.maxRequestsPerConnection",
            "maxRequestsPerConnection above 1 is not supported yet",
        ),
    ]


def test_fault_fields_istio_accepts_but_inmesh_does_not() -> None:
    vs = _one("""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [r]
  http:
  - fault: {delay: {exponentialDelay: 1s}, abort: {grpcStatus: UNAVAILABLE}}
    route: [{destination: {host: r}}]
  - fault: {abort: {http2Error: REFUSED_STREAM}}
    route: [{destination: {host: r}}]
""")
    assert [p.field for p in unsupported_problems(vs)] == [
        "spec.http[0].fault.delay.exponentialDelay",
        "spec.http[0].fault.abort.grpcStatus",
        "spec.http[1].fault.abort.http2Error",
    ]


def test_origin_locates_problems_by_default() -> None:
    [se] = parse_documents(
        [
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "ServiceEntry",
                "metadata": {"name": "any"},
                "spec": {
                    "hosts": ["*.example.com"],
                    "resolution": "DYNAMIC_DNS",
                    "ports": [{"number": 443, "name": "https", "protocol": "TLS"}],
                },
            }
        ],
        source="se.yaml",
    )
    [problem] = unsupported_problems(se)
    assert (problem.file, problem.document) == ("se.yaml", 1)
