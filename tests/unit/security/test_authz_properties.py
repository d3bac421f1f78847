"""Invariants of the evaluator over generated rules and requests (hypothesis).

- A rule in an ALLOW policy allows exactly the requests that the same rule in a DENY
  policy denies.
- For every field with a ``not`` form, a one-field rule with ``notX: V`` matches exactly
  when ``X: V`` does not.
- The order of values within a field does not change a decision (the compiler sorts
  conditions by cost; the result must not depend on it).
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ._policies import decide, only, op, src

WORDS = st.sampled_from(["a", "b", "shop", "front", "x-1", "GET", "POST", "/p", "/p/q"])
PATTERN = st.one_of(
    WORDS,
    WORDS.map(lambda w: w + "*"),
    WORDS.map(lambda w: "*" + w),
    st.just("*"),
)
VALUES = st.lists(PATTERN, min_size=1, max_size=3)
PRINCIPALS = st.sampled_from(
    [None, "cluster.local/ns/shop/sa/front", "cluster.local/ns/a/sa/b", "td/ns/x-1/sa/GET"]
)
REQUEST = st.fixed_dictionaries(
    {
        "source_principal": PRINCIPALS,
        "method": st.sampled_from([None, "GET", "POST", "a"]),
        "path": st.sampled_from([None, "/p", "/p/q", "/a/../p", "/shop?x"]),
        "host": st.sampled_from([None, "shop", "A.b", "front:80"]),
        "headers": st.sampled_from([{}, {"x-h": "a"}, {"X-H": "GET"}]),
        "port": st.sampled_from([None, 80, 8080]),
        "source_ip": st.sampled_from([None, "10.0.0.1", "192.168.1.1", "::1"]),
    }
)
SOURCE_FIELDS = ["principals", "namespaces"]
OPERATION_FIELDS = ["hosts", "methods", "paths"]


def _rule(field: str, values: list[str]) -> dict[str, Any]:
    if field in SOURCE_FIELDS or field.removeprefix("not").lower() in SOURCE_FIELDS:
        return src(**{field: values})
    return op(**{field: values})


def _not(field: str) -> str:
    return "not" + field[0].upper() + field[1:]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(SOURCE_FIELDS + OPERATION_FIELDS), VALUES, REQUEST)
def test_not_form_is_the_complement(field: str, values: list[str], request: dict[str, Any]) -> None:
    positive = decide(only(_rule(field, values)), **request).allowed
    negative = decide(only(_rule(_not(field), values)), **request).allowed
    assert positive != negative


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(SOURCE_FIELDS + OPERATION_FIELDS), VALUES, REQUEST)
def test_allow_and_deny_agree_on_what_matches(
    field: str, values: list[str], request: dict[str, Any]
) -> None:
    rule = _rule(field, values)
    assert decide(only(rule), **request).allowed != decide(only(rule, "DENY"), **request).allowed


@settings(max_examples=100, deadline=None)
@given(VALUES, VALUES, REQUEST, st.randoms())
def test_value_order_does_not_matter(
    a: list[str], b: list[str], request: dict[str, Any], rnd: Any
) -> None:
    rule = {
        "from": [{"source": {"principals": a}}],
        "to": [{"operation": {"methods": b, "notPaths": ["/x"]}}],
        "when": [{"key": "request.headers[x-h]", "values": b}],
    }
    shuffled_a, shuffled_b = list(a), list(b)
    rnd.shuffle(shuffled_a)
    rnd.shuffle(shuffled_b)
    other = {
        "from": [{"source": {"principals": shuffled_a}}],
        "to": [{"operation": {"methods": shuffled_b, "notPaths": ["/x"]}}],
        "when": [{"key": "request.headers[x-h]", "values": shuffled_b}],
    }
    assert decide(only(rule), **request).allowed == decide(only(other), **request).allowed


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from(["10.0.0.0/8", "10.0.0.1", "::/0", "::1", "192.168.0.0/16"]),
        min_size=1,
        max_size=3,
    ),
    REQUEST,
)
def test_ip_blocks_agree_with_ipaddress(blocks: list[str], request: dict[str, Any]) -> None:
    import ipaddress

    ip = request["source_ip"]
    expected = ip is not None and any(
        ipaddress.ip_address(ip) in ipaddress.ip_network(b, strict=False) for b in blocks
    )
    assert decide(only(src(ipBlocks=blocks)), **request).allowed is expected
