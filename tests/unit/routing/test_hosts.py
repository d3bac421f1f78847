"""Host names as Istio resolves them (routing/_hosts.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inmesh.routing._hosts import HostTable, aliases, host_matches, to_fqdn


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


def test_host_table_exact_before_wildcards() -> None:
    t: HostTable[str] = HostTable()
    t.add(["*"], "catch-all")
    t.add(["*.example.com"], "wild")
    t.add(["api.example.com"], "exact")
    assert t.get("api.example.com") == "exact"
    assert t.get("www.example.com") == "wild"
    assert t.get("elsewhere.org") == "catch-all"


def test_host_table_most_specific_wildcard_wins_whatever_the_order() -> None:
    t: HostTable[str] = HostTable()
    t.add(["*.com"], "com")
    t.add(["*.example.com"], "example")
    t.add(["*.api.example.com"], "api")
    assert t.get("v1.api.example.com") == "api"
    assert t.get("www.example.com") == "example"
    assert t.get("other.com") == "com"
    assert t.get("other.org") is None
    assert "www.example.com" in t
    assert "other.org" not in t


def test_host_table_first_added_wins() -> None:
    t: HostTable[str] = HostTable()
    t.add(["reviews", "*.example.com"], "first")
    t.add(["reviews", "*.example.com"], "second")
    assert t.get("reviews") == "first"
    assert t.get("a.example.com") == "first"
