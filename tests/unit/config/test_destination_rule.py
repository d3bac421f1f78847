"""DestinationRule: subsets, traffic policies and Istio's validation rules, from real YAML."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from inmesh.config import DestinationRule

from ._helpers import assert_problem, load, problems

DR = "DestinationRule default/reviews"


def dr(spec: str) -> str:
    body = textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ")
    return (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n"
        "  name: reviews\nspec:\n  host: reviews\n" + body + "\n"
    )


def policy(text: str) -> str:
    return dr("trafficPolicy:\n" + textwrap.indent(textwrap.dedent(text).strip("\n"), "  "))


def test_full_policy_is_read(tmp_path: Path) -> None:
    [rule] = load(
        tmp_path,
        dr("""
    trafficPolicy:
      loadBalancer:
        consistentHash: {httpHeaderName: x-user, ringHash: {minimumRingSize: 1024}}
        localityLbSetting:
          distribute: [{from: us-west/zone1/*, to: {"us-west/zone1/*": 80, "us-west/zone2/*": 20}}]
      connectionPool:
        tcp: {maxConnections: 100, connectTimeout: 30ms}
        http: {http1MaxPendingRequests: 10, maxRequestsPerConnection: 1, idleTimeout: 1h}
      outlierDetection:
        consecutive5xxErrors: 7
        consecutiveGatewayErrors: 3
        interval: 5m
        baseEjectionTime: 15m
        maxEjectionPercent: 50
      retryBudget: {percent: 20, minRetryConcurrency: 3}
      tls: {mode: ISTIO_MUTUAL}
      portLevelSettings:
      - port: {number: 443}
        tls: {mode: SIMPLE, sni: reviews.example.com}
    subsets:
    - name: v1
      labels: {version: v1}
      trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}
    - name: v2
      labels: {version: v2}
    """),
    )
    assert isinstance(rule, DestinationRule)
    tp = rule.spec.traffic_policy
    assert tp is not None and tp.load_balancer is not None
    assert tp.load_balancer.consistent_hash is not None
    assert tp.load_balancer.consistent_hash.http_header_name == "x-user"
    locality = tp.load_balancer.locality_lb_setting
    assert locality is not None and locality.distribute[0].from_ == "us-west/zone1/*"
    assert tp.connection_pool is not None and tp.connection_pool.tcp is not None
    assert tp.connection_pool.tcp.connect_timeout == 0.03
    assert tp.outlier_detection is not None
    assert tp.outlier_detection.consecutive_5xx_errors == 7
    assert (tp.outlier_detection.interval, tp.outlier_detection.base_ejection_time) == (300, 900)
    assert tp.tls is not None and tp.tls.mode == "ISTIO_MUTUAL"
    [port443] = [p for p in tp.port_level_settings if p.port and p.port.number == 443]
    assert port443 is not None and port443.tls is not None and port443.tls.mode == "SIMPLE"
    v1 = rule.spec.subset("v1")
    assert v1 is not None and v1.labels == {"version": "v1"}
    assert v1.traffic_policy is not None and v1.traffic_policy.load_balancer is not None
    assert v1.traffic_policy.load_balancer.simple == "LEAST_REQUEST"
    assert rule.spec.subset("v9") is None


def test_duplicate_subset_names(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        dr("""
    subsets:
    - {name: v1, labels: {version: v1}}
    - {name: v1, labels: {version: v2}}
    """),
        field="spec.subsets[1].name",
        says="duplicate subset names",
        resource=DR,
    )


def test_duplicate_subsets_are_reported_alongside_other_problems(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        dr("""
    trafficPolicy: {loadBalancer: {simple: FASTEST}}
    subsets:
    - {name: v1}
    - {name: v1}
    """),
    )
    assert {"spec.trafficPolicy.loadBalancer.simple", "spec.subsets[1].name"} <= {
        p.field for p in found
    }


def test_subset_names_are_dns_labels(tmp_path: Path) -> None:
    assert_problem(
        tmp_path, dr("subsets: [{name: 'v 1'}]"), field="spec.subsets[0].name", says="DNS-1123"
    )


def test_simple_enum(tmp_path: Path) -> None:
    p = assert_problem(
        tmp_path,
        policy("loadBalancer: {simple: FASTEST}"),
        field="spec.trafficPolicy.loadBalancer.simple",
        says="'ROUND_ROBIN'",
    )
    assert "got 'FASTEST'" in p.message


def test_simple_and_consistent_hash_are_exclusive(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        policy("""
    loadBalancer: {simple: RANDOM, consistentHash: {useSourceIp: true}}
    """),
        field="spec.trafficPolicy.loadBalancer",
        says="only one of simple or consistentHash",
    )


def test_consistent_hash_rules(tmp_path: Path) -> None:
    base = "spec.trafficPolicy.loadBalancer.consistentHash"
    assert_problem(
        tmp_path,
        policy("""
    loadBalancer: {consistentHash: {useSourceIp: true, httpHeaderName: x}}
    """),
        field=base,
        says="only one hash key",
    )
    assert_problem(
        tmp_path,
        policy("""
    loadBalancer: {consistentHash: {useSourceIp: true, ringHash: {}, maglev: {tableSize: 7}}}
    """),
        field=base,
        says="only one of ringHash or maglev",
    )
    assert_problem(
        tmp_path,
        policy("""
    loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 1000}}}
    """),
        field=base + ".maglev.tableSize",
        says="prime",
    )
    assert_problem(
        tmp_path,
        policy("""
    loadBalancer: {consistentHash: {useSourceIp: true, minimumRingSize: 64, ringHash: {}}}
    """),
        field=base + ".minimumRingSize",
        says="only one of minimumRingSize",
    )
    assert_problem(
        tmp_path,
        policy("""
    loadBalancer: {consistentHash: {httpCookie: {path: /}}}
    """),
        field=base + ".httpCookie.name",
        says="required",
    )


def test_locality_rules(tmp_path: Path) -> None:
    base = "spec.trafficPolicy.loadBalancer.localityLbSetting"
    assert_problem(
        tmp_path,
        policy("""
    loadBalancer:
      localityLbSetting:
        distribute: [{from: "us-west/*", to: {"us-east/*": 60}}]
    """),
        field=base + ".distribute[0].to",
        says="total locality weight 60 != 100",
    )
    assert_problem(
        tmp_path,
        policy("""
    loadBalancer:
      localityLbSetting:
        failover: [{from: us-east, to: us-east}]
    """),
        field=base + ".failover[0]",
        says="different regions",
    )
    assert_problem(
        tmp_path,
        policy("""
    loadBalancer:
      localityLbSetting:
        distribute: [{from: "us-west/*", to: {"us-east/*": 100}}]
        failover: [{from: us-east, to: us-west}]
    """),
        field=base,
        says="can not simultaneously specify 'distribute' and 'failover'",
    )


def test_empty_policies_are_rejected(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        dr("trafficPolicy: {}"),
        field="spec.trafficPolicy",
        says="traffic policy must have at least one field",
    )
    assert_problem(
        tmp_path,
        policy("connectionPool: {}"),
        field="spec.trafficPolicy.connectionPool",
        says="at least one field",
    )
    assert_problem(
        tmp_path,
        policy("portLevelSettings: [{loadBalancer: {simple: RANDOM}}]"),
        field="spec.trafficPolicy.portLevelSettings[0].port",
        says="valid port",
    )


def test_connection_pool_limits(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        policy("connectionPool: {tcp: {maxConnections: -1}}"),
        field="spec.trafficPolicy.connectionPool.tcp.maxConnections",
        says="non-negative",
    )
    assert_problem(
        tmp_path,
        policy("""
    connectionPool: {http: {h2UpgradePolicy: UPGRADE, useClientProtocol: true}}
    """),
        field="spec.trafficPolicy.connectionPool.http.useClientProtocol",
        says="must not be true when h2UpgradePolicy is UPGRADE",
    )


def test_outlier_detection_rules(tmp_path: Path) -> None:
    base = "spec.trafficPolicy.outlierDetection"
    assert_problem(
        tmp_path,
        policy("outlierDetection: {maxEjectionPercent: 150}"),
        field=base + ".maxEjectionPercent",
        says="not in range 0..100",
    )
    assert_problem(
        tmp_path,
        policy("outlierDetection: {consecutiveLocalOriginFailures: 3}"),
        field=base + ".consecutiveLocalOriginFailures",
        says="split external local origin errors is set to false",
    )
    assert_problem(
        tmp_path,
        policy("outlierDetection: {interval: 10}"),
        field=base + ".interval",
        says="a string",
    )


def test_client_tls_rules(tmp_path: Path) -> None:
    found = {p.field: p.message for p in problems(tmp_path, policy("tls: {mode: MUTUAL}"))}
    assert "client certificate required" in found["spec.trafficPolicy.tls.clientCertificate"]
    assert "private key required" in found["spec.trafficPolicy.tls.privateKey"]
    assert_problem(
        tmp_path,
        policy("tls: {mode: STRICT}"),
        field="spec.trafficPolicy.tls.mode",
        says="'ISTIO_MUTUAL'",
    )


def test_tunnel_and_proxy_protocol_are_exclusive(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        policy("""
    tunnel: {targetHost: proxy.example.com, targetPort: 8080}
    proxyProtocol: {version: V1}
    """),
        field="spec.trafficPolicy.proxyProtocol",
        says="must not be set together",
    )


def test_warmup_forms_are_exclusive(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        policy("""
    loadBalancer: {simple: ROUND_ROBIN, warmupDurationSecs: 60s, warmup: {duration: 60s}}
    """),
        field="spec.trafficPolicy.loadBalancer.warmup",
        says="only one of warmup",
    )


def test_host_and_workload_selector(tmp_path: Path) -> None:
    text = dr("workloadSelector: {matchLabels: {app: '*'}}").replace(
        "host: reviews", "host: 'bad host'"
    )
    fields = {p.field for p in problems(tmp_path, text)}
    assert {"spec.host", "spec.workloadSelector.matchLabels.app"} <= fields


@pytest.mark.parametrize("mode", ["DISABLE", "SIMPLE", "ISTIO_MUTUAL"])
def test_tls_modes(tmp_path: Path, mode: str) -> None:
    [rule] = load(tmp_path, policy(f"tls: {{mode: {mode}}}"))
    assert rule.spec.traffic_policy is not None and rule.spec.traffic_policy.tls is not None
    assert rule.spec.traffic_policy.tls.mode == mode
