"""Compiled HTTP routes (routing/_routes.py): rewrite, redirect Location, weights."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from inmesh.config import HTTPRoute, HTTPRouteDestination
from inmesh.routing._match import SourceInfo
from inmesh.routing._routes import Route, compile_http_routes

from ._support import resources, view

CLIENT = SourceInfo("default", {"app": "productpage"})


def route(spec: dict[str, Any]) -> Route:
    spec.setdefault("route", [{"destination": {"host": "reviews"}}])
    if "redirect" in spec:
        spec.pop("route")
    model = HTTPRoute.model_validate(spec)
    return Route(model, vs_namespace="default", vs_name="reviews", source=CLIENT, index=0)


def rewritten(spec: dict[str, Any], url: str) -> str:
    r = route(spec)
    req = view(url)
    ok, matched = r.match(req)
    assert ok
    assert r.rewrite is not None
    return r.rewrite.path(req.path, matched)


# -- rewrite -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("match", "rewrite", "path", "expected"),
    [
        # prefix_rewrite replaces the prefix that matched
        ({"uri": {"prefix": "/reviews"}}, "/v2/reviews", "/reviews/1", "/v2/reviews/1"),
        ({"uri": {"prefix": "/reviews/"}}, "/", "/reviews/1", "/1"),
        ({"uri": {"prefix": "/reviews"}, "ignoreUriCase": True}, "/v2", "/Reviews/1", "/v2/1"),
        # an exact or regex match has the whole path as its "prefix"
        ({"uri": {"exact": "/old"}}, "/new", "/old", "/new"),
        ({"uri": {"regex": "/item/[0-9]+"}}, "/item", "/item/42", "/item"),
        # no uri match: Istio's implicit prefix "/" is replaced
        ({"queryParams": {"q": {}}}, "/api/", "/x/y", "/api/x/y"),
        ({"method": {"exact": "GET"}}, "/v1", "/x", "/v1x"),
    ],
)
def test_rewrite_uri(match: dict[str, Any], rewrite: str, path: str, expected: str) -> None:
    spec = {"match": [match], "rewrite": {"uri": rewrite}}
    assert rewritten(spec, f"http://reviews{path}?q=1") == expected


def test_rewrite_uri_without_any_match_block() -> None:
    assert rewritten({"rewrite": {"uri": "/v2/"}}, "http://reviews/x") == "/v2/x"


def test_rewrite_uses_the_block_that_matched() -> None:
    spec = {
        "match": [{"uri": {"prefix": "/a"}}, {"uri": {"prefix": "/bb"}}],
        "rewrite": {"uri": "/z"},
    }
    assert rewritten(spec, "http://reviews/a/1") == "/z/1"
    assert rewritten(spec, "http://reviews/bb/1") == "/z/1"


@pytest.mark.parametrize(
    ("pattern", "substitution", "path", "expected"),
    [
        # Envoy's documented example
        (
            r"^/service/([^/]+)(/.*)$",
            r"\2/instance/\1",
            "/service/foo/v1/api",
            "/v1/api/instance/foo",
        ),
        # every match is substituted (RE2 GlobalReplace)
        ("o", "0", "/foo/boo", "/f00/b00"),
        ("^/v1/", "/v2/", "/v1/items", "/v2/items"),
        ("^/v1/", "/v2/", "/x/v1/items", "/x/v1/items"),
    ],
)
def test_uri_regex_rewrite(pattern: str, substitution: str, path: str, expected: str) -> None:
    spec = {"rewrite": {"uriRegexRewrite": {"match": pattern, "rewrite": substitution}}}
    assert rewritten(spec, f"http://reviews{path}") == expected


def test_uri_regex_rewrite_backreferences_are_one_digit_as_in_re2() -> None:
    # RE2's rewrite strings know \0..\9 only: \10 is group 1 followed by "0".
    groups = "".join(f"({c})" for c in "abcdefghij")
    spec = {"rewrite": {"uriRegexRewrite": {"match": groups, "rewrite": r"\10-\1"}}}
    assert rewritten(spec, "http://reviews/abcdefghij") == "/a0-a"


def test_rewrite_authority_only_leaves_the_path() -> None:
    r = route({"rewrite": {"authority": "ratings.internal"}})
    assert r.rewrite is not None and r.rewrite.authority == "ratings.internal"
    assert r.rewrite.path("/a/b", None) == "/a/b"


# -- redirect ------------------------------------------------------------------------------


def location(redirect: dict[str, Any], url: str) -> str:
    r = route({"redirect": redirect})
    assert r.redirect is not None
    req = view(url)
    return r.redirect.location(req, req.query)


@pytest.mark.parametrize(
    ("redirect", "url", "expected"),
    [
        # only the path changes: the Host header (and its port) stays, the query is kept
        ({"uri": "/new"}, "http://reviews:9080/old?a=1", "http://reviews:9080/new?a=1"),
        ({"uri": "/new"}, "http://reviews/old", "http://reviews/new"),
        # a query in the new uri replaces the request's
        ({"uri": "/new?b=2"}, "http://reviews:9080/old?a=1", "http://reviews:9080/new?b=2"),
        # a new authority comes without a port unless port/derivePort asks for one
        (
            {"authority": "new.example.com"},
            "http://reviews:9080/p?a=1",
            "http://new.example.com/p?a=1",
        ),
        (
            {"authority": "new.example.com", "port": 8080},
            "http://reviews:9080/p",
            "http://new.example.com:8080/p",
        ),
        (
            {"authority": "new.example.com", "derivePort": "FROM_REQUEST_PORT"},
            "http://reviews:9080/p",
            "http://new.example.com:9080/p",
        ),
        (
            {"authority": "new.example.com", "derivePort": "FROM_PROTOCOL_DEFAULT"},
            "http://reviews:9080/p",
            "http://new.example.com/p",
        ),
        # a new port replaces the Host header's
        ({"port": 8080}, "http://reviews:9080/p", "http://reviews:8080/p"),
        ({"port": 80}, "http://reviews:9080/p", "http://reviews/p"),  # the default is not written
        # a scheme change keeps a non-default port (Envoy's processRequestHost) ...
        ({"scheme": "https"}, "http://reviews:9080/p?a=1", "https://reviews:9080/p?a=1"),
        # ... and drops the old scheme's default port
        ({"scheme": "https"}, "http://reviews/p", "https://reviews/p"),
        ({"scheme": "https"}, "http://reviews:80/p", "https://reviews/p"),
        ({"scheme": "https", "port": 443}, "http://reviews:9080/p", "https://reviews/p"),
        ({"scheme": "https", "port": 8443}, "http://reviews:9080/p", "https://reviews:8443/p"),
        (
            {"scheme": "https", "derivePort": "FROM_PROTOCOL_DEFAULT"},
            "http://reviews:9080/p",
            "https://reviews/p",
        ),
        (
            {"scheme": "https", "authority": "secure.example.com", "uri": "/login"},
            "http://reviews:9080/p?next=1",
            "https://secure.example.com/login?next=1",
        ),
    ],
)
def test_redirect_location(redirect: dict[str, Any], url: str, expected: str) -> None:
    assert location(redirect, url) == expected


def test_redirect_code() -> None:
    r = route({"redirect": {"uri": "/x"}})
    assert r.redirect is not None and r.redirect.code == 301
    r = route({"redirect": {"uri": "/x", "redirectCode": 307}})
    assert r.redirect is not None and r.redirect.code == 307


# -- weights -------------------------------------------------------------------------------


def dest(host: str, weight: int | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {"destination": {"host": host}}
    if weight is not None:
        d["weight"] = weight
    return d


def chosen(r: Route, n: int = 400) -> Counter[str | None]:
    out: Counter[str | None] = Counter()
    for _ in range(n):
        d = r.choose()
        out[None if d is None else d.host.split(".")[0]] += 1
    return out


def test_single_destination_without_weight_gets_everything() -> None:
    assert chosen(route({"route": [dest("a")]})) == {"a": 400}


def test_single_destination_gets_everything_whatever_its_weight() -> None:
    # Istio's route translation: a lone destination with weight 0 is given weight 100.
    assert chosen(route({"route": [dest("a", 0)]})) == {"a": 400}


def test_zero_weight_gets_nothing() -> None:
    assert chosen(route({"route": [dest("a", 100), dest("b", 0)]})) == {"a": 400}
    assert chosen(route({"route": [dest("a", 0), dest("b", 5), dest("c", 0)]})) == {"b": 400}
    # an unset weight among several destinations is 0
    assert chosen(route({"route": [dest("a"), dest("b", 1)]})) == {"b": 400}


def test_weights_are_relative() -> None:
    n = 4000
    counts = chosen(route({"route": [dest("a", 1), dest("b", 3)]}), n)
    assert set(counts) == {"a", "b"}
    # binomial(4000, 0.25): sd ~ 27; 6 sd either side
    assert abs(counts["a"] - n / 4) < 165, counts


def test_all_zero_weights_choose_nothing() -> None:
    # Istio's validation rejects this ("total destination weight = 0"), and so does the
    # loader; a route built without validation still chooses nothing (503 UH upstream).
    model = HTTPRoute.model_validate({"route": [dest("a"), dest("b", 1)]})
    model = model.model_copy(
        update={
            "route": (
                HTTPRouteDestination.model_validate(dest("a", 0)),
                HTTPRouteDestination.model_validate(dest("b", 0)),
            )
        }
    )
    r = Route(model, vs_namespace="default", vs_name="reviews", source=CLIENT, index=0)
    assert r.choose() is None


def test_destinations_are_canonical_hosts_relative_to_the_vs_namespace() -> None:
    model = HTTPRoute.model_validate(
        {"route": [{"destination": {"host": "reviews", "subset": "v1", "port": {"number": 9080}}}]}
    )
    r = Route(model, vs_namespace="shop", vs_name="reviews", source=CLIENT, index=3)
    d = r.choose()
    assert d is not None
    assert (d.host, d.subset, d.port) == ("reviews.shop.svc.cluster.local", "v1", 9080)
    assert r.name == "reviews.shop.3"  # unnamed routes get a stable name


def test_compile_http_routes_drops_routes_unreachable_for_the_client() -> None:
    (vs,) = resources(
        """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: reviews}
        spec:
          hosts: [reviews]
          http:
          - name: canary-only
            match: [{sourceLabels: {version: canary}}]
            route: [{destination: {host: reviews, subset: v2}}]
          - name: default
            route: [{destination: {host: reviews, subset: v1}}]
        """
    )
    routes = compile_http_routes(vs, CLIENT)
    assert [r.name for r in routes] == ["default"]
