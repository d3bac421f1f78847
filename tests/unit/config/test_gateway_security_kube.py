"""Gateway, PeerAuthentication, AuthorizationPolicy and the Kubernetes kinds."""

from __future__ import annotations

from pathlib import Path

import pytest

from inmesh.config import (
    AuthorizationPolicy,
    KubeDeployment,
    KubeService,
    KubeServiceAccount,
    PeerAuthentication,
    dump_resource,
)

from ._helpers import assert_problem, load, problems

GW = "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: ingress\n"


def test_gateway(tmp_path: Path) -> None:
    [gateway] = load(
        tmp_path,
        GW
        + """spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["bookinfo/*.example.com"]
    tls: {mode: SIMPLE, credentialName: bookinfo-cert}
""",
    )
    assert gateway.spec.servers[0].tls is not None
    assert gateway.spec.servers[0].tls.credential_name == "bookinfo-cert"


def test_gateway_rules(tmp_path: Path) -> None:
    found = {
        p.field: p.message
        for p in problems(
            tmp_path,
            GW
            + """spec:
  servers:
  - port: {number: 443, name: web, protocol: HTTPS}
    hosts: ["*"]
  - port: {number: 80, name: web, protocol: HTTP}
    hosts: []
""",
        )
    }
    assert "must have TLS settings" in found["spec.servers[0].tls"]
    assert "at least one host" in found["spec.servers[1].hosts"]
    assert_problem(
        tmp_path,
        GW + "spec:\n  servers: []\n",
        field="spec.servers",
        says="at least one server",
        resource="Gateway default/ingress",
    )
    assert_problem(
        tmp_path,
        GW.replace("name: ingress", "name: in.gress")
        + """spec:
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
""",
        field="metadata.name",
        says="not a valid DNS-1123 label",
    )


PA = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\n"


@pytest.mark.parametrize("mode", ["UNSET", "DISABLE", "PERMISSIVE", "STRICT"])
def test_peer_authentication_modes(tmp_path: Path, mode: str) -> None:
    [pa] = load(tmp_path, PA + f"spec:\n  mtls: {{mode: {mode}}}\n")
    assert isinstance(pa, PeerAuthentication)
    assert pa.spec.mtls is not None and pa.spec.mtls.mode == mode


def test_peer_authentication_rules(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        PA + "spec:\n  mtls: {mode: ISTIO_MUTUAL}\n",
        field="spec.mtls.mode",
        says="'STRICT'",
        resource="PeerAuthentication default/default",
    )
    assert_problem(
        tmp_path,
        PA + "spec:\n  portLevelMtls: {8080: {mode: DISABLE}}\n",
        field="spec.portLevelMtls",
        says="cannot have port level mTLS",
    )
    [pa] = load(
        tmp_path,
        PA
        + """spec:
  selector: {matchLabels: {app: ratings}}
  portLevelMtls: {8080: {mode: DISABLE}}
""",
    )
    assert pa.spec.port_level_mtls is not None and pa.spec.port_level_mtls[8080].mode == "DISABLE"
    assert_problem(
        tmp_path,
        PA
        + """spec:
  selector: {matchLabels: {app: ratings}}
  portLevelMtls: {0: {mode: DISABLE}}
""",
        field="spec.portLevelMtls[0]",
        says="invalid key",
    )


AP = "apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata:\n  name: policy\n"


def test_authorization_policy(tmp_path: Path) -> None:
    [ap] = load(
        tmp_path,
        AP
        + """spec:
  selector: {matchLabels: {app: reviews}}
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/default/sa/bookinfo-productpage"]}}]
    to: [{operation: {methods: [GET], paths: ["/reviews/{*}"], ports: ["9080"]}}]
    when: [{key: "request.headers[x-env]", values: [prod]}]
""",
    )
    assert isinstance(ap, AuthorizationPolicy)
    rule = ap.spec.rules[0] if ap.spec.rules else None
    assert rule is not None and rule.from_ is not None and rule.to is not None
    assert rule.from_[0].source is not None
    assert rule.from_[0].source.principals == ("cluster.local/ns/default/sa/bookinfo-productpage",)
    assert rule.when[0].key == "request.headers[x-env]"


def test_empty_allow_policy_means_deny_all(tmp_path: Path) -> None:
    [ap] = load(tmp_path, AP + "spec: {}\n")
    assert ap.spec.rules is None and ap.spec.action is None


@pytest.mark.parametrize(
    ("spec", "field", "says"),
    [
        ("{action: DENY}", "spec.rules", "DENY action without rules"),
        ("{action: ALLOW, provider: {name: ext}, rules: [{}]}", "spec.provider", "non CUSTOM"),
        ("{action: CUSTOM, rules: [{}]}", "spec.provider", "provider.name must not be empty"),
        ("{action: REJECT}", "spec.action", "'CUSTOM'"),
        ("{rules: [{from: []}]}", "spec.rules[0].from", "from must not be empty"),
        ("{rules: [{from: [{source: {}}]}]}", "spec.rules[0].from[0].source", "must not be empty"),
        (
            "{rules: [{from: [{source: {ipBlocks: [1.2.3.300]}}]}]}",
            "spec.rules[0].from[0].source.ipBlocks[0]",
            "not a valid IP",
        ),
        (
            "{rules: [{to: [{operation: {ports: [http]}}]}]}",
            "spec.rules[0].to[0].operation.ports[0]",
            "invalid port",
        ),
        (
            "{rules: [{when: [{key: source.color, values: [red]}]}]}",
            "spec.rules[0].when[0].key",
            "unknown attribute",
        ),
        (
            "{rules: [{when: [{key: source.ip}]}]}",
            "spec.rules[0].when[0]",
            "at least one of values",
        ),
        (
            "{selector: {matchLabels: {a: b}}, targetRef: {kind: Service, name: r}}",
            "spec",
            "only one of targetRefs or workloadSelector",
        ),
    ],
)
def test_authorization_policy_rules(tmp_path: Path, spec: str, field: str, says: str) -> None:
    assert_problem(
        tmp_path,
        AP + f"spec: {spec}\n",
        field=field,
        says=says,
        resource="AuthorizationPolicy default/policy",
    )


SERVICE = """
apiVersion: v1
kind: Service
metadata:
  name: reviews
  labels: {app: reviews, service: reviews}
spec:
  ports:
  - {port: 9080, name: http, targetPort: http-web, appProtocol: http}
  selector: {app: reviews}
  sessionAffinity: None
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: bookinfo-reviews}
automountServiceAccountToken: false
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v1, labels: {app: reviews, version: v1}}
spec:
  replicas: 2
  selector: {matchLabels: {app: reviews, version: v1}}
  strategy: {type: RollingUpdate}
  template:
    metadata: {labels: {app: reviews, version: v1}}
    spec:
      serviceAccountName: bookinfo-reviews
      containers:
      - name: reviews
        image: registry.istio.io/release/examples-bookinfo-reviews-v1:1.20.3
        ports: [{containerPort: 9080}]
        env: [{name: LOG_DIR, value: /tmp/logs}]
"""


def test_kubernetes_kinds_keep_unknown_fields(tmp_path: Path) -> None:
    service, account, deployment = load(tmp_path, SERVICE)
    assert isinstance(service, KubeService)
    assert isinstance(account, KubeServiceAccount)
    assert isinstance(deployment, KubeDeployment)
    assert service.spec.ports[0].target_port == "http-web"
    assert service.spec.selector == {"app": "reviews"}
    assert dump_resource(service)["spec"]["sessionAffinity"] == "None"
    assert dump_resource(account)["automountServiceAccountToken"] is False
    assert deployment.replicas == 2
    assert deployment.pod_labels == {"app": "reviews", "version": "v1"}
    pod = deployment.spec.template.spec
    assert pod.service_account_name == "bookinfo-reviews"
    assert pod.containers[0].ports[0].container_port == 9080


def test_kubernetes_fields_we_read_are_still_checked(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        SERVICE.replace("port: 9080,", "port: 0,"),
        field="spec.ports[0].port",
        says="greater than or equal to 1",
        resource="Service default/reviews",
    )
