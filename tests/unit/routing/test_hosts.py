"""Host names as Istio resolves them (routing/_hosts.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inmesh.routing._hosts import HostMap, aliases, host_matches, to_fqdn


@pytest.mark.parametrize(
    ("host", "namespace", "fqdn"),
    [
        ("reviews", "default", "reviews.default.svc.cluster.local"),
        ("reviews", "shop", "reviews.shop.svc.cluster.local"),
        ("Reviews", "shop", "reviews.shop.svc.cluster.local"),  # DNS names are case-insensitive
        # a name with a dot is taken as written (Istio's ResolveShortnameToFQDN)
        ("reviews.shop", "default", "reviews.shop"),
        ("reviews.shop.svc.cluster.local", "default", "reviews.shop.svc.cluster.local"),
        ("api.example.com", "default", "api.example.com"),
        ("*.example.com", "default", "*.example.com"),
        ("*", "default", "*"),
    ],
)
def test_to_fqdn(host: str, namespace: str, fqdn: str) -> None:
    assert to_fqdn(host, namespace) == fqdn


def test_aliases_of_a_kubernetes_style_host() -> None:
    fqdn = "reviews.default.svc.cluster.local"
    assert aliases(fqdn, "default") == [
        "reviews",
        "reviews.default",
        "reviews.default.svc",
        fqdn,
    ]


def test_the_short_name_only_from_the_same_namespace() -> None:
    fqdn = "reviews.shop.svc.cluster.local"
    names = aliases(fqdn, "default")
    assert "reviews" not in names
    assert names == ["reviews.shop", "reviews.shop.svc", fqdn]


@pytest.mark.parametrize(
    "host", ["api.example.com", "*.example.com", "a.b.c.svc.cluster.local", "svc.cluster.local"]
)
def test_other_hosts_have_no_aliases(host: str) -> None:
    assert aliases(host, "default") == [host]


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("api.example.com", "api.example.com", True),
        ("api.example.com", "www.example.com", False),
        ("*.example.com", "api.example.com", True),
        ("*.example.com", "a.b.example.com", True),  # a wildcard covers any depth
        ("*.example.com", "example.com", False),  # but not the bare domain
        ("*.example.com", "api.example.org", False),
        ("*.example.com", "badexample.com", False),
        ("*", "anything.at.all", True),
        ("*", "x", True),
    ],
)
def test_host_matches(pattern: str, host: str, expected: bool) -> None:
    assert host_matches(pattern, host) is expected


labels = st.text(alphabet="abcxyz", min_size=1, max_size=4)


@given(st.lists(labels, min_size=1, max_size=4), st.lists(labels, min_size=1, max_size=3))
def test_wildcard_covers_exactly_the_subdomains(suffix: list[str], prefix: list[str]) -> None:
    domain = ".".join(suffix)
    assert host_matches(f"*.{domain}", ".".join([*prefix, domain]))
    assert not host_matches(f"*.{domain}", domain)


def test_host_map_exact_before_wildcards() -> None:
    m = HostMap(
        {"api.example.com": "exact"},
        [("*", "catch-all"), ("*.example.com", "wild")],
        "default",
    )
    assert m.get("api.example.com") == "exact"
    assert m.get("www.example.com") == "wild"
    assert m.get("elsewhere.org") == "catch-all"


def test_host_map_most_specific_wildcard_wins_whatever_the_order() -> None:
    m: HostMap[str] = HostMap(
        {}, [("*.com", "com"), ("*.example.com", "example"), ("*.api.example.com", "api")], "ns"
    )
    assert m.get("v1.api.example.com") == "api"
    assert m.get("www.example.com") == "example"
    assert m.get("other.com") == "com"
    assert m.get("other.org") is None
    assert "www.example.com" in m
    assert "other.org" not in m


def test_host_map_first_wildcard_among_equals_wins() -> None:
    m = HostMap({}, [("*.example.com", "first"), ("*.example.com", "second")], "ns")
    assert m.get("a.example.com") == "first"


def test_host_map_finds_a_kubernetes_host_by_the_names_a_client_uses() -> None:
    fqdn = "reviews.shop.svc.cluster.local"
    m = HostMap({fqdn: "reviews"}, [], "shop", extra={"10.0.0.7": "by address"})
    for name in ("reviews", "reviews.shop", "reviews.shop.svc", fqdn):
        assert m.get(name) == "reviews"
    assert m.get("10.0.0.7") == "by address"
    assert HostMap({fqdn: "reviews"}, [], "default").get("reviews") is None
