"""DestinationRule selection and policy merging (routing/_policy.py), exportTo visibility.

Istio's lookup (PushContext.destinationRule): the client's namespace first, then the
service's namespace, then the root namespace ``istio-system``; within one namespace the
exact host before the most specific wildcard (MostSpecificHostMatch). Istio's merge
(MergeSubsetTrafficPolicy): top level, its portLevelSettings entry for the port, the
subset's policy, the subset's port-level entry; a port-level entry *replaces*
connectionPool, loadBalancer, outlierDetection and tls (unset fields fall back to the
defaults, they are not inherited).
"""

from __future__ import annotations

from typing import Any

from inmesh.routing._policy import DestinationRules, merge_policy, subset_labels

from ._support import docs, resources

HOST = "reviews.shop.svc.cluster.local"


def dr(name: str, namespace: str, host: str, extra: str = "") -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  host: "{host}"
{extra}"""


def lookup(
    *rules: str,
    client_ns: str = "default",
    labels: dict[str, str] | None = None,
    host: str = HOST,
    service_ns: str = "shop",
) -> str | None:
    found = DestinationRules(resources(docs(*rules)), client_ns, labels or {}).lookup(
        host, service_ns
    )
    return None if found is None else f"{found.namespace}/{found.name}"


# -- lookup precedence ---------------------------------------------------------------------


def test_client_namespace_then_service_namespace_then_root() -> None:
    in_client = dr("c", "default", HOST)
    in_service = dr("s", "shop", "reviews")
    in_root = dr("r", "istio-system", HOST)
    assert lookup(in_root, in_service, in_client) == "default/c"
    assert lookup(in_root, in_service) == "shop/s"
    assert lookup(in_root) == "istio-system/r"


def test_rules_of_other_namespaces_do_not_apply() -> None:
    # Istio looks in exactly three namespaces; an exported rule elsewhere is not used.
    assert lookup(dr("o", "other", HOST)) is None


def test_exact_host_before_wildcard_within_a_namespace() -> None:
    wild = dr("wild", "shop", "*.shop.svc.cluster.local")
    wider = dr("wider", "shop", "*.svc.cluster.local")
    exact = dr("exact", "shop", HOST)
    assert lookup(wider, wild, exact) == "shop/exact"
    assert lookup(wider, wild) == "shop/wild"
    assert lookup(wider) == "shop/wider"


def test_namespace_precedence_comes_before_host_specificity() -> None:
    # A wildcard rule in the client's namespace beats an exact rule in the service's.
    client_wild = dr("cw", "default", "*.shop.svc.cluster.local")
    service_exact = dr("se", "shop", HOST)
    assert lookup(service_exact, client_wild) == "default/cw"


def test_short_hosts_are_relative_to_the_rules_namespace() -> None:
    assert lookup(dr("a", "default", "reviews")) is None  # reviews.default..., not shop
    assert lookup(dr("a", "shop", "reviews")) == "shop/a"


def test_first_rule_wins_for_the_same_host_in_one_namespace() -> None:
    assert lookup(dr("one", "shop", HOST), dr("two", "shop", HOST)) == "shop/one"


def test_export_to() -> None:
    private = "  exportTo: ['.']"
    assert lookup(dr("p", "shop", HOST, private)) is None
    assert lookup(dr("p", "shop", HOST, private), client_ns="shop") == "shop/p"
    assert lookup(dr("x", "shop", HOST, "  exportTo: [default]")) == "shop/x"
    assert lookup(dr("x", "shop", HOST, "  exportTo: [other]")) is None
    assert lookup(dr("x", "istio-system", HOST, "  exportTo: ['*']")) == "istio-system/x"


def test_workload_selector_applies_to_selected_clients_of_its_namespace() -> None:
    sel = "  workloadSelector: {matchLabels: {app: productpage}}"
    rule = dr("w", "default", HOST, sel)
    assert lookup(rule, labels={"app": "productpage", "version": "v1"}) == "default/w"
    assert lookup(rule, labels={"app": "ratings"}) is None
    assert lookup(rule, labels={"app": "productpage"}, client_ns="other") is None


# -- merge ---------------------------------------------------------------------------------

MERGE_RULE = dr(
    "reviews",
    "shop",
    "reviews",
    """
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    connectionPool: {tcp: {maxConnections: 10}}
    outlierDetection: {consecutive5xxErrors: 7}
    portLevelSettings:
    - port: {number: 9443}
      loadBalancer: {simple: RANDOM}
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      connectionPool: {tcp: {maxConnections: 2}}
  - name: v3
    labels: {version: v3}
    trafficPolicy:
      loadBalancer: {simple: LEAST_REQUEST}
      portLevelSettings:
      - port: {number: 9080}
        tls: {mode: SIMPLE}
""",
)


def merged(subset: str | None, port: int) -> dict[str, Any]:
    (rule,) = resources(MERGE_RULE)
    p = merge_policy(rule, subset, port)
    return {
        "lb": p.load_balancer.simple if p.load_balancer is not None else None,
        "max_conn": p.connection_pool.tcp.max_connections if p.connection_pool else None,
        "outlier": p.outlier_detection.consecutive_5xx_errors if p.outlier_detection else None,
        "tls": p.tls.mode if p.tls is not None else None,
    }


def test_top_level_policy() -> None:
    assert merged(None, 9080) == {"lb": "ROUND_ROBIN", "max_conn": 10, "outlier": 7, "tls": None}


def test_port_level_settings_replace_the_top_level_port_fields() -> None:
    # Istio: "Traffic settings specified at the destination-level will not be inherited when
    # overridden by port-level settings, i.e. default values will be applied to fields
    # omitted in port-level traffic policies."
    assert merged(None, 9443) == {"lb": "RANDOM", "max_conn": None, "outlier": None, "tls": None}


def test_subset_without_policy_inherits() -> None:
    assert merged("v1", 9080) == merged(None, 9080)
    assert merged("v1", 9443) == merged(None, 9443)


def test_subset_policy_overrides_the_fields_it_sets() -> None:
    assert merged("v2", 9080) == {"lb": "ROUND_ROBIN", "max_conn": 2, "outlier": 7, "tls": None}
    # on 9443 the top level's port entry applied first, then the subset's own fields
    assert merged("v2", 9443) == {"lb": "RANDOM", "max_conn": 2, "outlier": None, "tls": None}


def test_subset_port_level_replaces_all_port_fields() -> None:
    assert merged("v3", 9080) == {"lb": None, "max_conn": None, "outlier": None, "tls": "SIMPLE"}
    assert merged("v3", 9443) == {
        "lb": "LEAST_REQUEST",
        "max_conn": None,
        "outlier": None,
        "tls": None,
    }


def test_no_rule_no_policy() -> None:
    p = merge_policy(None, None, 9080)
    assert (p.load_balancer, p.connection_pool, p.outlier_detection, p.tls) == (None,) * 4


def test_retry_budget_is_not_a_port_field() -> None:
    (rule,) = resources(
        dr(
            "r",
            "shop",
            "reviews",
            """
  trafficPolicy:
    retryBudget: {percent: 20}
    portLevelSettings:
    - port: {number: 9080}
      loadBalancer: {simple: RANDOM}
""",
        )
    )
    assert merge_policy(rule, None, 9080).retry_budget is not None


def test_subset_labels() -> None:
    (rule,) = resources(MERGE_RULE)
    assert subset_labels(rule, "v2") == {"version": "v2"}
    assert subset_labels(rule, "v9") is None
    assert subset_labels(None, "v1") is None
