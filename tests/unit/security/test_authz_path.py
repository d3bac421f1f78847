"""Istio's default (BASE) path normalization and Envoy's uri_template matching."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inmesh.security import normalize_path
from inmesh.security._authz_path import template_regex


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/a/b", "/a/b"),
        ("/a/../b", "/b"),
        ("/a/./b", "/a/b"),
        ("/a/..", "/"),
        ("/a/b/.", "/a/b/"),
        ("/..", "/"),
        ("/../../x", "/x"),
        ("/public/./data/abc/../xyz", "/public/data/xyz"),  # Istio's documentation example
        ("/a/%2e%2E/b", "/b"),
        ("/.%2e/a", "/a"),
        ("/%61%62%63", "/abc"),
        ("/%2D%5f%7E%30", "/-_~0"),
        ("/a%2Fb", "/a%2Fb"),
        ("/a%5cb", "/a%5cb"),
        ("/a%20b", "/a%20b"),
        ("/%252e", "/%252e"),  # decoded once only
        ("/a\\b", "/a/b"),
        ("/a//b", "/a//b"),
        ("/a/.../b", "/a/.../b"),
        ("/p?x=/../y", "/p"),
        ("/p#frag", "/p"),
        ("", ""),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize_path(raw) == expected


def test_null_byte_rejects() -> None:
    assert normalize_path("/a%00") is None


SEGMENT = st.text(alphabet="abcxyz019-._~", min_size=1, max_size=6).filter(
    lambda s: s not in (".", "..")
)
PATHS = st.lists(SEGMENT, min_size=0, max_size=5).map(lambda s: "/" + "/".join(s))


@given(PATHS)
def test_normalization_is_idempotent(path: str) -> None:
    once = normalize_path(path)
    assert once is not None
    assert normalize_path(once) == once


@given(PATHS, st.lists(SEGMENT, min_size=1, max_size=3))
def test_dot_dot_undoes_a_segment(path: str, extra: list[str]) -> None:
    detour = path.rstrip("/") + "/" + "/".join(extra) + "/.." * len(extra)
    assert normalize_path(detour) == normalize_path(path.rstrip("/") + "/")


@given(st.lists(SEGMENT, min_size=1, max_size=5), st.integers(min_value=0, max_value=4))
def test_one_segment_template(segments: list[str], at: int) -> None:
    at = min(at, len(segments) - 1)
    template = "/" + "/".join("{*}" if i == at else s for i, s in enumerate(segments))
    regex = template_regex(template)
    assert regex.fullmatch("/" + "/".join(segments))
    two = list(segments)
    two[at] = two[at] + "/x"
    assert not regex.fullmatch("/" + "/".join(two))
    empty = list(segments)
    empty[at] = ""
    assert not regex.fullmatch("/" + "/".join(empty))


@given(st.lists(SEGMENT, min_size=0, max_size=3), st.lists(SEGMENT, min_size=0, max_size=4))
def test_any_segments_template(head: list[str], tail: list[str]) -> None:
    prefix = "/" + "/".join(head) if head else ""
    regex = template_regex(prefix + "/{**}")
    assert regex.fullmatch(prefix + "/" + "/".join(tail))
    assert not regex.fullmatch(prefix + "x/" + "/".join(tail)) or not head


def test_template_literals_are_literal() -> None:
    regex = template_regex("/v1.0/{*}/a+b")
    assert regex.fullmatch("/v1.0/x/a+b")
    assert not regex.fullmatch("/v1x0/x/a+b")
    assert not regex.fullmatch("/v1.0/x/aab")
    assert isinstance(regex, re.Pattern)
