"""HTTPMatchRequest semantics (routing/_match.py), as Istio translates them for Envoy.

Istio's rules: blocks in one ``match`` list are ORed and the conditions of a block ANDed;
``regex`` is RE2 matched against the whole value; ``ignoreUriCase`` applies to exact and
prefix only; a header ``{}`` means "present"; ``uri``/``scheme``/``method``/``authority``
keys in ``headers`` are ignored; ``withoutHeaders`` inverts a header condition (a missing
header compares as ``""``, Istio's ``treat_missing_header_as_empty``); a query parameter
is matched on its first value; ``sourceLabels``/``sourceNamespace``/``gateways`` are decided
for the client when the snapshot is compiled.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inmesh.config import HTTPMatchRequest, StringMatch
from inmesh.routing._match import Matcher, SourceInfo, compile_match, string_predicate
from inmesh.routing._routes import Route

from ._support import view

CLIENT = SourceInfo("default", {"app": "productpage", "version": "v1"})


def matcher(spec: dict[str, Any], source: SourceInfo = CLIENT) -> Matcher:
    m = compile_match(HTTPMatchRequest.model_validate(spec), source)
    assert m is not None, "the block was dropped for this client"
    return m


def matches(spec: dict[str, Any], url: str = "http://reviews:9080/", **kw: Any) -> bool:
    return matcher(spec)(view(url, **kw))


# -- uri: exact, prefix, regex -------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "path", "expected"),
    [
        ({"exact": "/reviews"}, "/reviews", True),
        ({"exact": "/reviews"}, "/reviews/1", False),
        ({"exact": "/reviews"}, "/Reviews", False),
        ({"prefix": "/reviews"}, "/reviews/1", True),
        ({"prefix": "/reviews"}, "/reviewsX", True),  # a plain string prefix, not a segment
        ({"prefix": "/reviews"}, "/review", False),
        ({"regex": "/reviews/[0-9]+"}, "/reviews/12", True),
        ({"regex": "/reviews/[0-9]+"}, "/reviews/12/x", False),  # a FULL match
        ({"regex": "/rev"}, "/reviews", False),
        ({"regex": "/rev.*"}, "/reviews", True),
    ],
)
def test_uri_string_match(uri: dict[str, str], path: str, expected: bool) -> None:
    assert matches({"uri": uri}, f"http://reviews:9080{path}") is expected


def test_uri_is_the_path_without_the_query_string() -> None:
    assert matches({"uri": {"exact": "/reviews"}}, "http://reviews:9080/reviews?id=1")
    assert matches({"uri": {"regex": "/[a-z]+"}}, "http://reviews:9080/reviews?id=1")


def test_regex_is_re2_ascii_classes() -> None:
    # RE2's \d is ASCII only; Python's would also match other Unicode digits.
    pred = string_predicate(StringMatch(regex=r"\d+"))
    assert pred("123")
    assert not pred("\u0663")  # ARABIC-INDIC DIGIT THREE


def test_regex_uses_the_models_compiled_pattern() -> None:
    sm = StringMatch(regex="a+b")
    assert sm.pattern is not None and sm.pattern.flags & re.ASCII
    pred = string_predicate(sm)
    assert pred("aaab") and not pred("aaabc") and not pred("xaab")


@pytest.mark.parametrize(
    ("uri", "path", "expected"),
    [
        ({"exact": "/reviews"}, "/REVIEWS", True),
        ({"prefix": "/reviews"}, "/Reviews/1", True),
        ({"regex": "/reviews"}, "/Reviews", False),  # ignoreUriCase never applies to regex
        ({"regex": "/reviews"}, "/reviews", True),
    ],
)
def test_ignore_uri_case_is_for_exact_and_prefix_only(
    uri: dict[str, str], path: str, expected: bool
) -> None:
    spec = {"uri": uri, "ignoreUriCase": True}
    assert matches(spec, f"http://reviews:9080{path}") is expected


def test_ignore_uri_case_does_not_touch_other_conditions() -> None:
    spec = {"ignoreUriCase": True, "headers": {"end-user": {"exact": "jason"}}}
    assert matches(spec, headers={"end-user": "jason"})
    assert not matches(spec, headers={"end-user": "Jason"})


# -- scheme, method, authority, port -------------------------------------------------------


def test_scheme_method_authority() -> None:
    assert matches({"method": {"exact": "POST"}}, method="POST")
    assert not matches({"method": {"exact": "POST"}}, method="GET")
    assert matches({"method": {"regex": "GET|HEAD"}}, method="HEAD")
    assert matches({"scheme": {"exact": "http"}})
    assert not matches({"scheme": {"exact": "https"}})
    # authority is the Host header: host[:port], as Envoy's :authority
    assert matches({"authority": {"exact": "reviews:9080"}})
    assert matches({"authority": {"prefix": "reviews"}}, "http://reviews/")
    assert not matches({"authority": {"exact": "reviews"}})


def test_port_is_the_request_port() -> None:
    assert matches({"port": 9080}, "http://reviews:9080/")
    assert not matches({"port": 9080}, "http://reviews:9081/")
    assert matches({"port": 80}, "http://reviews/")  # the scheme's default port


# -- headers -------------------------------------------------------------------------------


def test_header_conditions() -> None:
    spec = {"headers": {"end-user": {"exact": "jason"}}}
    assert matches(spec, headers={"end-user": "jason"})
    assert matches(spec, headers={"End-User": "jason"})  # header names are case-insensitive
    assert not matches(spec, headers={"end-user": "jasonx"})
    assert not matches(spec)
    assert matches({"headers": {"x-a": {"prefix": "ab"}}}, headers={"x-a": "abc"})
    assert not matches({"headers": {"x-a": {"regex": "ab"}}}, headers={"x-a": "abc"})


def test_empty_header_match_means_present() -> None:
    spec = {"headers": {"x-canary": {}}}
    assert matches(spec, headers={"x-canary": "anything"})
    assert matches(spec, headers={"x-canary": ""})
    assert not matches(spec)


def test_repeated_header_values_are_joined_with_commas() -> None:
    spec = {"headers": {"x-a": {"exact": "1,2"}}}
    req = view("http://reviews:9080/")
    req.headers = type(req.headers)([(b"x-a", b"1"), (b"x-a", b"2")])
    assert matcher(spec)(req)


@pytest.mark.parametrize("key", ["uri", "scheme", "method", "authority"])
def test_pseudo_header_keys_in_headers_are_ignored(key: str) -> None:
    # Istio: "The keys uri, scheme, method, and authority will be ignored."
    assert matches({"headers": {key: {"exact": "never"}}})


def test_without_headers() -> None:
    spec = {"withoutHeaders": {"end-user": {"exact": "jason"}}}
    assert not matches(spec, headers={"end-user": "jason"})
    assert matches(spec, headers={"end-user": "mike"})
    assert matches(spec)  # absent: "" is not "jason"


def test_without_headers_present_form() -> None:
    spec = {"withoutHeaders": {"x-debug": {}}}
    assert matches(spec)
    assert not matches(spec, headers={"x-debug": ""})
    assert not matches(spec, headers={"x-debug": "1"})


def test_without_headers_compares_a_missing_header_as_empty() -> None:
    # Istio sets treat_missing_header_as_empty on withoutHeaders string matches: a pattern
    # that accepts "" excludes requests lacking the header too.
    spec = {"withoutHeaders": {"x-a": {"regex": "a*"}}}
    assert not matches(spec)
    assert not matches(spec, headers={"x-a": "aaa"})
    assert matches(spec, headers={"x-a": "b"})


# -- query parameters ----------------------------------------------------------------------


def test_query_params() -> None:
    spec = {"queryParams": {"v": {"exact": "2"}}}
    assert matches(spec, "http://reviews:9080/?v=2")
    assert matches(spec, "http://reviews:9080/?a=1&v=2")
    assert not matches(spec, "http://reviews:9080/?v=22")
    assert not matches(spec, "http://reviews:9080/")
    assert matches({"queryParams": {"v": {"regex": "[0-9]"}}}, "http://reviews:9080/?v=7")
    assert not matches({"queryParams": {"v": {"regex": "[0-9]"}}}, "http://reviews:9080/?v=77")


def test_query_param_uses_the_first_value() -> None:
    spec = {"queryParams": {"v": {"exact": "2"}}}
    assert matches(spec, "http://reviews:9080/?v=2&v=3")
    assert not matches(spec, "http://reviews:9080/?v=3&v=2")


def test_empty_query_param_match_means_present() -> None:
    spec = {"queryParams": {"debug": {}}}
    assert matches(spec, "http://reviews:9080/?debug")
    assert matches(spec, "http://reviews:9080/?debug=")
    assert not matches(spec, "http://reviews:9080/?other=1")


# -- client-side conditions, decided at compile time ---------------------------------------


def compiled(spec: dict[str, Any], source: SourceInfo = CLIENT) -> Matcher | None:
    return compile_match(HTTPMatchRequest.model_validate(spec), source)


def test_source_labels_must_be_a_subset_of_the_clients() -> None:
    assert compiled({"sourceLabels": {"app": "productpage"}}) is not None
    assert compiled({"sourceLabels": {"app": "productpage", "version": "v1"}}) is not None
    assert compiled({"sourceLabels": {"version": "v2"}}) is None
    assert compiled({"sourceLabels": {"app": "productpage", "zone": "a"}}) is None


def test_source_namespace() -> None:
    assert compiled({"sourceNamespace": "default"}) is not None
    assert compiled({"sourceNamespace": "shop"}) is None


def test_match_level_gateways() -> None:
    assert compiled({"gateways": ["mesh"]}) is not None
    assert compiled({"gateways": ["mesh", "istio-system/ingress"]}) is not None
    assert compiled({"gateways": ["istio-system/ingress"]}) is None


def test_match_level_gateways_are_independent_of_source_labels() -> None:
    # Istio (HTTPMatchRequest.gateways): "The gateway match is independent of
    # sourceLabels"; pilot's sourceMatchHTTP checks gateways instead of the source.
    spec = {"gateways": ["mesh"], "sourceLabels": {"version": "v2"}, "sourceNamespace": "shop"}
    assert compiled(spec) is not None


def test_a_block_that_only_depends_on_the_client_matches_everything() -> None:
    m = compiled({"sourceLabels": {"app": "productpage"}})
    assert m is not None and m(view("http://reviews:9080/any?x=1", method="DELETE"))


# -- blocks ORed, conditions ANDed ---------------------------------------------------------


def route(match: list[dict[str, Any]], source: SourceInfo = CLIENT) -> Route:
    from inmesh.config import HTTPRoute

    spec = HTTPRoute.model_validate({"match": match, "route": [{"destination": {"host": "r"}}]})
    return Route(spec, vs_namespace="default", vs_name="r", source=source, index=0)


def test_conditions_in_a_block_are_anded() -> None:
    r = route([{"uri": {"prefix": "/a"}, "headers": {"end-user": {"exact": "jason"}}}])
    assert r.match(view("http://r/a", headers={"end-user": "jason"}))[0]
    assert not r.match(view("http://r/a"))[0]
    assert not r.match(view("http://r/b", headers={"end-user": "jason"}))[0]


def test_blocks_are_ored_and_the_first_matching_block_is_reported() -> None:
    r = route(
        [
            {"name": "first", "uri": {"prefix": "/a"}},
            {"name": "second", "method": {"exact": "POST"}},
        ]
    )
    ok, m = r.match(view("http://r/a", method="POST"))
    assert ok and m is not None and m.name == "first"
    ok, m = r.match(view("http://r/b", method="POST"))
    assert ok and m is not None and m.name == "second"
    assert not r.match(view("http://r/b"))[0]


def test_a_route_without_match_matches_everything() -> None:
    from inmesh.config import HTTPRoute

    spec = HTTPRoute.model_validate({"route": [{"destination": {"host": "r"}}]})
    r = Route(spec, vs_namespace="default", vs_name="r", source=CLIENT, index=0)
    assert r.match(view("http://r/anything")) == (True, None)


def test_a_route_whose_blocks_all_exclude_the_client_is_unreachable() -> None:
    r = route([{"sourceLabels": {"version": "v9"}}, {"sourceNamespace": "other"}])
    assert r.unreachable
    assert not r.match(view("http://r/"))[0]


def test_blocks_dropped_for_the_client_leave_the_others() -> None:
    r = route([{"sourceLabels": {"version": "v9"}}, {"uri": {"exact": "/x"}}])
    assert not r.unreachable
    assert r.match(view("http://r/x"))[0]
    assert not r.match(view("http://r/y"))[0]


# -- properties ----------------------------------------------------------------------------

text = st.text(max_size=20)


@given(text, text)
def test_prefix_is_startswith(prefix: str, value: str) -> None:
    assert string_predicate(StringMatch(prefix=prefix))(value) is value.startswith(prefix)


@given(text, text)
def test_exact_is_equality(exact: str, value: str) -> None:
    assert string_predicate(StringMatch(exact=exact))(value) is (value == exact)


@given(text, text)
def test_prefix_ignoring_case(prefix: str, value: str) -> None:
    pred = string_predicate(StringMatch(prefix=prefix), ignore_case=True)
    assert pred(value) is value.lower().startswith(prefix.lower())


@given(st.text(alphabet=st.characters(codec="ascii"), min_size=1, max_size=12), text)
def test_escaped_regex_is_a_full_match(literal: str, value: str) -> None:
    pred = string_predicate(StringMatch(regex=re.escape(literal)))
    assert pred(value) is (value == literal)


@given(text)
def test_presence_accepts_everything(value: str) -> None:
    assert string_predicate(StringMatch())(value)
