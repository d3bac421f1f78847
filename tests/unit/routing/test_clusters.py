"""Clusters (routing/_clusters.py): consistentHash keys, the balancer policy translated from
Istio's loadBalancer, locality wiring and Istio's cluster names."""

from __future__ import annotations

from typing import Any

import pytest

from inmesh.balancing import (
    ActiveRequests,
    Endpoint,
    HashPolicy,
    LocalityBalancer,
    hash_policy,
    hash_value,
)
from inmesh.config import LoadBalancerSettings, OutlierDetection
from inmesh.routing import ClientIdentity
from inmesh.routing._clusters import (
    balancer_policy,
    build_balancer,
    cluster_name,
    locality_setting,
    select,
)
from inmesh.routing._policy import EffectivePolicy

from ._support import view


def lb(spec: dict[str, Any]) -> LoadBalancerSettings:
    return LoadBalancerSettings.model_validate(spec)


def key(policy: HashPolicy | None, url: str = "http://r/", **headers: str) -> Any:
    assert policy is not None
    return policy.key(view(url, headers=headers or None))


# -- hash keys -----------------------------------------------------------------------------


def test_header_key() -> None:
    p = hash_policy(lb({"consistentHash": {"httpHeaderName": "X-User"}}), "10.0.0.9")
    assert p == HashPolicy(header="x-user")
    assert key(p, **{"x-user": "alice"}) == (hash_value("alice"), None)
    assert key(p, **{"X-User": "alice"}) == (hash_value("alice"), None)
    assert key(p) == (None, None)  # no key: balanced as without hashing


def test_query_parameter_key_uses_the_first_value() -> None:
    p = hash_policy(lb({"consistentHash": {"httpQueryParameterName": "cart"}}), "10.0.0.9")
    assert key(p, "http://r/?cart=7&cart=8") == (hash_value("7"), None)
    assert key(p, "http://r/?other=1") == (None, None)


def test_source_ip_key_is_the_clients_address() -> None:
    p = hash_policy(lb({"consistentHash": {"useSourceIp": True}}), "10.0.0.9")
    assert key(p) == (hash_value("10.0.0.9"), None)


def test_present_cookie_is_the_key() -> None:
    spec = {"consistentHash": {"httpCookie": {"name": "session", "ttl": "60s", "path": "/"}}}
    p = hash_policy(lb(spec), "10.0.0.9")
    assert key(p, cookie="a=1; session=abc; b=2") == (hash_value("abc"), None)


def test_absent_cookie_with_ttl_is_generated_and_set() -> None:
    spec = {"consistentHash": {"httpCookie": {"name": "session", "ttl": "60s", "path": "/api"}}}
    p = hash_policy(lb(spec), "10.0.0.9")
    h, set_cookie = key(p, cookie="other=1")
    assert set_cookie is not None
    attrs = [a.strip() for a in set_cookie.split(";")]
    name, _, value = attrs[0].partition("=")
    assert name == "session" and value
    assert h == hash_value(value)  # the request is hashed on the value it will carry
    assert "Max-Age=60" in attrs and "Path=/api" in attrs and "HttpOnly" in attrs
    other = key(p)[1]
    assert other is not None and other.split(";")[0] != attrs[0]  # a new value each time


def test_zero_ttl_makes_a_session_cookie() -> None:
    # Built directly: the loader holds every Duration to Istio's CRD rule (>= 1ms).
    _, set_cookie = key(HashPolicy(cookie="session", cookie_ttl=0.0))
    assert set_cookie is not None
    assert "Max-Age" not in set_cookie and "Path" not in set_cookie


def test_absent_cookie_without_ttl_is_no_key() -> None:
    spec = {"consistentHash": {"httpCookie": {"name": "session"}}}
    assert key(hash_policy(lb(spec), "10.0.0.9")) == (None, None)


def test_no_consistent_hash_no_hash_policy() -> None:
    assert hash_policy(None, "10.0.0.9") is None
    assert hash_policy(lb({"simple": "ROUND_ROBIN"}), "10.0.0.9") is None


# -- balancer policy -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "kind", "extra"),
    [
        (None, "LEAST_REQUEST", {}),
        ({"simple": "ROUND_ROBIN"}, "ROUND_ROBIN", {}),
        ({"simple": "RANDOM"}, "RANDOM", {}),
        ({"simple": "LEAST_REQUEST"}, "LEAST_REQUEST", {}),
        ({"simple": "LEAST_CONN"}, "LEAST_REQUEST", {}),  # Istio's deprecated alias
        ({"simple": "UNSPECIFIED"}, "LEAST_REQUEST", {}),
        (
            {"consistentHash": {"httpHeaderName": "x", "ringHash": {"minimumRingSize": 4096}}},
            "RING_HASH",
            {"minimum_ring_size": 4096},
        ),
        # ring hash is the default for consistentHash, with Envoy's 1024 minimum
        ({"consistentHash": {"httpHeaderName": "x"}}, "RING_HASH", {"minimum_ring_size": 1024}),
        (
            {"consistentHash": {"httpHeaderName": "x", "minimumRingSize": 2048}},
            "RING_HASH",
            {"minimum_ring_size": 2048},
        ),
        (
            {"consistentHash": {"httpHeaderName": "x", "maglev": {"tableSize": 131}}},
            "MAGLEV",
            {"maglev_table_size": 131},
        ),
    ],
)
def test_balancer_policy(spec: dict[str, Any] | None, kind: str, extra: dict[str, int]) -> None:
    bp = balancer_policy(lb(spec) if spec is not None else None)
    assert bp.kind == kind
    for attr, value in extra.items():
        assert getattr(bp, attr) == value


def test_locality_setting_translation() -> None:
    s = locality_setting(
        lb(
            {
                "localityLbSetting": {
                    "failover": [{"from": "us-east", "to": "eu-west"}],
                    "failoverPriority": ["tier"],
                }
            }
        )
    )
    assert s is not None
    assert [(f.from_, f.to) for f in s.failover] == [("us-east", "eu-west")]
    assert s.failover_priority == ("tier",)
    assert s.enabled
    off = locality_setting(lb({"localityLbSetting": {"enabled": False}}))
    assert off is not None and off.enabled is False
    assert locality_setting(None) is None


# -- balancer wiring -----------------------------------------------------------------------

EPS = (
    Endpoint("10.0.0.1", 80, locality="us-east/zone1/sub1"),
    Endpoint("10.0.0.2", 80, locality="eu-west/zone1/sub1"),
)


def test_plain_balancer_without_client_locality() -> None:
    b = build_balancer(EffectivePolicy(), EPS, ActiveRequests(), ClientIdentity(service="c"))
    assert not isinstance(b, LocalityBalancer)


def test_failover_needs_outlier_detection() -> None:
    client = ClientIdentity(service="c", locality="us-east/zone1/sub1")
    plain = build_balancer(EffectivePolicy(), EPS, ActiveRequests(), client)
    assert isinstance(plain, LocalityBalancer) and plain.mode == "flat"
    od = OutlierDetection.model_validate({"consecutive5xxErrors": 1})
    failover = build_balancer(EffectivePolicy(outlier_detection=od), EPS, ActiveRequests(), client)
    assert isinstance(failover, LocalityBalancer) and failover.mode == "failover"
    assert [[e.address for e in lv] for lv in failover.levels] == [["10.0.0.1"], ["10.0.0.2"]]


# -- names and subsets ---------------------------------------------------------------------


def test_cluster_name() -> None:
    assert cluster_name(9080, "v1", "reviews.default.svc.cluster.local") == (
        "outbound|9080|v1|reviews.default.svc.cluster.local"
    )
    assert cluster_name(80, None, "api.example.com") == "outbound|80||api.example.com"


def test_select_by_subset_labels() -> None:
    eps = (
        Endpoint("a", 1, labels={"version": "v1", "zone": "x"}),
        Endpoint("b", 1, labels={"version": "v2"}),
    )
    assert select(eps, {"version": "v1"}) == eps[:1]
    assert select(eps, {"version": "v1", "zone": "y"}) == ()
    assert select(eps, None) == eps
    assert select(eps, {}) == eps
