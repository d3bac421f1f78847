"""Istio's own Bookinfo configuration loads, validates and means what Istio says it means.

The corpus lives outside the repository (``../shared/conformance/istio-bookinfo``); the tests
skip, saying where they looked, when it is not there.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from inmesh.config import (
    DestinationRule,
    Gateway,
    KubeDeployment,
    KubeService,
    KubeServiceAccount,
    Resource,
    ServiceEntry,
    VirtualService,
    dump_resource,
    load_config,
    parse_documents,
    unsupported_problems,
)

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "istio-bookinfo"
FILES = sorted(p.name for p in CORPUS.glob("*.yaml")) if CORPUS.is_dir() else []


def _require_corpus() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"conformance corpus not found at {CORPUS}")


def _load(name: str) -> list[Resource]:
    _require_corpus()
    return load_config(CORPUS / name)


def _vs(name: str, vs_name: str) -> VirtualService:
    found = [r for r in _load(name) if isinstance(r, VirtualService) and r.name == vs_name]
    assert len(found) == 1
    return found[0]


def _weights(vs: VirtualService, rule: int = 0) -> list[tuple[str | None, int | None]]:
    return [(d.destination.subset, d.weight) for d in vs.spec.http[rule].route]


@pytest.mark.parametrize("name", FILES or ["<corpus missing>"])
def test_every_file_loads_round_trips_and_is_supported(name: str) -> None:
    resources = _load(name)
    assert resources, f"{name} holds no resources"
    assert parse_documents([dump_resource(r) for r in resources]) == resources
    problems = [p for r in resources for p in unsupported_problems(r)]
    assert problems == []


def test_whole_corpus_loads_as_one_configuration() -> None:
    _require_corpus()
    kinds = Counter(r.kind for r in load_config(CORPUS))
    assert kinds["Deployment"] == 6 and kinds["Service"] == 4 and kinds["ServiceAccount"] == 4
    assert kinds["Gateway"] == 2 and kinds["ServiceEntry"] == 1


@pytest.mark.parametrize(
    ("name", "weights"),
    [
        ("virtual-service-reviews-90-10.yaml", [("v1", 90), ("v2", 10)]),
        ("virtual-service-reviews-80-20.yaml", [("v1", 80), ("v2", 20)]),
        ("virtual-service-reviews-50-v3.yaml", [("v1", 50), ("v3", 50)]),
        ("virtual-service-reviews-v2-v3.yaml", [("v2", 50), ("v3", 50)]),
        ("virtual-service-reviews-v3.yaml", [("v3", None)]),
    ],
)
def test_weighted_canary_splits(name: str, weights: list[tuple[str, int | None]]) -> None:
    vs = _vs(name, "reviews")
    assert vs.spec.hosts == ("reviews",)
    assert _weights(vs) == weights
    assert all(d.destination.host == "reviews" for d in vs.spec.http[0].route)


@pytest.mark.parametrize(
    ("name", "default_subset"),
    [
        ("virtual-service-reviews-jason-v2-v3.yaml", "v3"),
        ("virtual-service-reviews-test-v2.yaml", "v1"),
    ],
)
def test_jason_header_match(name: str, default_subset: str) -> None:
    vs = _vs(name, "reviews")
    jason, default = vs.spec.http
    header = jason.match[0].headers["end-user"]
    assert header.exact == "jason" and header.prefix is None and header.regex is None
    assert header.matches("jason") and not header.matches("jasonx")
    assert _weights(vs, 0) == [("v2", None)]
    assert default.match == () and _weights(vs, 1) == [(default_subset, None)]


def test_fault_delay_of_seven_seconds_for_jason() -> None:
    route = _vs("virtual-service-ratings-test-delay.yaml", "ratings").spec.http[0]
    assert route.match[0].headers["end-user"].exact == "jason"
    assert route.fault is not None and route.fault.delay is not None
    assert route.fault.delay.fixed_delay == 7.0
    assert route.fault.delay.percentage is not None
    assert route.fault.delay.percentage.value == 100.0


def test_fault_abort_500_for_jason() -> None:
    route = _vs("virtual-service-ratings-test-abort.yaml", "ratings").spec.http[0]
    assert route.fault is not None and route.fault.abort is not None
    assert route.fault.abort.http_status == 500
    assert route.fault.abort.percentage is not None
    assert route.fault.abort.percentage.value == 100.0


def test_fault_abort_555_for_every_request() -> None:
    vs = _vs("fault-injection-details-v1.yaml", "details")
    route = vs.spec.http[0]
    assert route.match == ()
    assert route.fault is not None and route.fault.abort is not None
    assert route.fault.abort.http_status == 555


def test_mtls_destination_rules() -> None:
    rules = [r for r in _load("destination-rule-all-mtls.yaml") if isinstance(r, DestinationRule)]
    assert {r.spec.host for r in rules} == {"productpage", "reviews", "ratings", "details"}
    for rule in rules:
        tp = rule.spec.traffic_policy
        assert tp is not None and tp.tls is not None and tp.tls.mode == "ISTIO_MUTUAL"
    ratings = next(r for r in rules if r.name == "ratings")
    assert [s.name for s in ratings.spec.subsets] == ["v1", "v2", "v2-mysql", "v2-mysql-vm"]
    subset = ratings.spec.subset("v2-mysql-vm")
    assert subset is not None and subset.labels == {"version": "v2-mysql-vm"}


def test_plain_destination_rules_and_random_balancing() -> None:
    rules = [r for r in _load("destination-rule-all.yaml") if isinstance(r, DestinationRule)]
    assert all(r.spec.traffic_policy is None for r in rules)
    [reviews] = _load("destination-rule-reviews.yaml")
    assert isinstance(reviews, DestinationRule)
    tp = reviews.spec.traffic_policy
    assert tp is not None and tp.load_balancer is not None
    assert tp.load_balancer.simple == "RANDOM"


def test_pinned_subsets() -> None:
    for name in ("productpage", "reviews", "ratings", "details"):
        assert _weights(_vs("virtual-service-all-v1.yaml", name)) == [("v1", None)]
    assert _weights(_vs("virtual-service-details-v2.yaml", "details")) == [("v2", None)]
    assert _weights(_vs("virtual-service-ratings-db.yaml", "ratings")) == [("v2", None)]
    assert _weights(_vs("virtual-service-ratings-mysql.yaml", "ratings")) == [("v2-mysql", None)]
    assert _weights(_vs("virtual-service-ratings-mysql-vm.yaml", "ratings")) == [
        ("v2-mysql-vm", None)
    ]


def test_egress_to_google_apis() -> None:
    entry, vs, rule = _load("egress-rule-google-apis.yaml")
    assert isinstance(entry, ServiceEntry)
    assert entry.spec.hosts == ("www.googleapis.com",) and entry.spec.resolution == "DNS"
    assert [(p.number, p.name, p.protocol) for p in entry.spec.ports] == [
        (80, "http", "HTTP"),
        (443, "https", "HTTPS"),
    ]
    assert isinstance(vs, VirtualService)
    route = vs.spec.http[0]
    assert route.match[0].port == 80
    port = route.route[0].destination.port
    assert port is not None and port.number == 443
    assert isinstance(rule, DestinationRule)
    tp = rule.spec.traffic_policy
    assert tp is not None and tp.load_balancer is not None
    assert tp.load_balancer.simple == "ROUND_ROBIN"
    [tls443] = [p for p in tp.port_level_settings if p.port and p.port.number == 443]
    assert tls443 is not None and tls443.tls is not None and tls443.tls.mode == "SIMPLE"


def test_ingress_gateway_and_bound_routes() -> None:
    gateway, vs = _load("bookinfo-gateway.yaml")
    assert isinstance(gateway, Gateway)
    server = gateway.spec.servers[0]
    assert (server.port.number, server.port.protocol, server.hosts) == (8080, "HTTP", ("*",))
    assert gateway.spec.selector == {"istio": "ingressgateway"}
    assert isinstance(vs, VirtualService)
    assert vs.spec.gateways == ("bookinfo-gateway",) and not vs.spec.applies_to_mesh
    uris = [
        ("exact" if m.uri.exact is not None else "prefix", m.uri.exact or m.uri.prefix)
        for m in vs.spec.http[0].match
        if m.uri is not None
    ]
    assert uris == [
        ("exact", "/productpage"),
        ("prefix", "/static"),
        ("exact", "/login"),
        ("exact", "/logout"),
        ("prefix", "/api/v1/products"),
    ]


def test_cert_manager_gateway_namespace() -> None:
    gateway, vs = _load("certmanager-gateway.yaml")
    assert (gateway.namespace, vs.namespace) == ("istio-system", "istio-system")
    assert isinstance(vs, VirtualService)
    port = vs.spec.http[0].route[0].destination.port
    assert port is not None and port.number == 8089


def test_kubernetes_platform() -> None:
    resources = _load("platform-kube-bookinfo.yaml")
    services = {r.name: r for r in resources if isinstance(r, KubeService)}
    accounts = {r.name for r in resources if isinstance(r, KubeServiceAccount)}
    deployments = {r.name: r for r in resources if isinstance(r, KubeDeployment)}
    assert set(services) == {"details", "ratings", "reviews", "productpage"}
    for name, service in services.items():
        assert [(p.name, p.port) for p in service.spec.ports] == [("http", 9080)]
        assert service.spec.selector == {"app": name}
    assert accounts == {f"bookinfo-{n}" for n in services}
    assert set(deployments) == {
        "details-v1",
        "ratings-v1",
        "reviews-v1",
        "reviews-v2",
        "reviews-v3",
        "productpage-v1",
    }
    reviews_v3 = deployments["reviews-v3"]
    assert reviews_v3.pod_labels == {"app": "reviews", "version": "v3"}
    assert reviews_v3.replicas == 1
    pod = reviews_v3.spec.template.spec
    assert pod.service_account_name == "bookinfo-reviews"
    assert pod.containers[0].ports[0].container_port == 9080
