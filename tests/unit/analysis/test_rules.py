"""IST0130 / IST0131 (analysis/_rules.py): every match field, overlaps inside one rule's
match list, TCP and TLS routes."""

from __future__ import annotations

from inmesh.analysis import check

from .test_checks import REVIEWS_DR, REVIEWS_SVC, REVIEWS_V1_POD, load, vs

BASE = (REVIEWS_SVC, REVIEWS_V1_POD, REVIEWS_DR)
DEST = "route: [{destination: {host: reviews, subset: v1}}]"


def details(http: str) -> list[str]:
    return [f"{m.code} {m.details}" for m in check(load(*BASE, vs(http)))]


def test_repeated_match_on_any_field_is_ineffective() -> None:
    http = f"""
    - match: [{{method: {{exact: POST}}, queryParams: {{q: {{exact: "1"}}}}}}]
      {DEST}
    - match: [{{method: {{exact: POST}}, queryParams: {{q: {{exact: "1"}}}}, name: again}}]
      {DEST}
    """
    assert details(http) == [
        'IST0131 VirtualService rule #1 match "again" is not used (duplicate/overlapping '
        "match in rule #0).",
        "IST0130 VirtualService rule #1 not used (all matches used by prior rules).",
    ]
    different = http.replace('{q: {exact: "1"}}, name', '{q: {exact: "2"}}, name')
    assert details(different) == []


def test_repeat_inside_one_rules_match_list() -> None:
    http = f"""
    - name: one
      match: [{{headers: {{x: {{exact: a}}}}}}, {{headers: {{x: {{exact: a}}}}}}]
      {DEST}
    """
    assert details(http) == [
        'IST0131 VirtualService rule "one" match #1 is not used (duplicate/overlapping match '
        'in rule "one").'
    ]


def test_prefix_overlap_compares_method_headers_and_port() -> None:
    http = f"""
    - match: [{{uri: {{prefix: /api}}, headers: {{x: {{exact: a}}}}}}]
      {DEST}
    - match: [{{uri: {{prefix: /api/v1}}, headers: {{x: {{exact: a}}}}}}]
      {DEST}
    """
    assert details(http) == [
        "IST0131 VirtualService rule #1 match #0 of prefix /api/v1 is not used "
        "(duplicate/overlapping match in rule #0 of prefix /api on #0)."
    ]
    # A different method, header or port is not covered.
    assert (
        details(http.replace("{x: {exact: a}}}]\n      route", "{x: {exact: b}}}]\n      route", 1))
        == []
    )
    assert (
        details(
            http.replace(
                "headers: {x: {exact: a}}}]", "headers: {x: {exact: a}}, method: {exact: PUT}}]", 1
            )
        )
        == []
    )
    assert details(http.replace("/api}, headers", "/api}, port: 8080, headers")) == []


def test_tcp_and_tls_routes() -> None:
    tcp = """
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: db}
    spec:
      hosts: [reviews]
      tcp:
      - route: [{destination: {host: reviews, subset: v1}}]
      - match: [{port: 9080}]
        route: [{destination: {host: reviews, subset: v1}}]
      tls:
      - match: [{sniHosts: [reviews], port: 443}]
        route: [{destination: {host: reviews, subset: v1}}]
      - match: [{sniHosts: [reviews], port: 443}]
        route: [{destination: {host: reviews, subset: v1}}]
    """
    msgs = [m for m in check(load(*BASE, tcp)) if m.code != "INM0002"]  # tcp/tls: not yet
    assert sorted(f"{m.code} {m.details}" for m in msgs) == [
        "IST0130 VirtualService rule #1 not used (all matches used by prior rules).",
        "IST0130 VirtualService rule #1 not used (route without matches defined before).",
        "IST0131 VirtualService rule #1 match #0 is not used (duplicate/overlapping match in "
        "rule #0).",
    ]
