"""RE2 compatibility of regex matches, and full-match semantics."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from inmesh.config import Re2Error, StringMatch, compile_re2


@pytest.mark.parametrize(
    "pattern",
    [
        r"/api/v[0-9]+/.*",
        r"(?i)jason",
        r"^/static/.*$",
        r"a{2,5}b*?",
        r"(?P<id>\d+)",
        r"[\]a-z]+",
        r"x{3}",
        r"\.well-known/[^/]+",
        r"(?:a|b)+",
        r"a\{1\}",
        r"\x41\t\n",
    ],
)
def test_accepts_re2_compatible_patterns(pattern: str) -> None:
    assert compile_re2(pattern).pattern == pattern


@pytest.mark.parametrize(
    ("pattern", "construct"),
    [
        (r"(a)\1", "backreference"),
        (r"(?P<x>a)(?P=x)", "named backreference"),
        (r"foo(?=bar)", "lookahead"),
        (r"foo(?!bar)", "negative lookahead"),
        (r"(?<=a)b", "lookbehind"),
        (r"(?<!a)b", "negative lookbehind"),
        (r"(?>ab)", "atomic group"),
        (r"a++", "possessive"),
        (r"a{2}+", "possessive"),
        (r"(a)?(?(1)b|c)", "conditional"),
        (r"\p{Greek}", "Unicode class"),
        (r"\pL", "Unicode class"),
        (r"a\C", "\\C"),
        (r"end\z", "\\z"),
        (r"end\Z", "\\Z"),
        (r"\Qa.b\E", "quoted literal"),
        (r"\x{41}", "hex escape"),
        (r"[[:alpha:]]+", "POSIX character class"),
        (r"a{,3}", "{,n}"),
        (r"a{1001}", "repeat count"),
        (r"(?x) a b", "inline flag 'x'"),
        (r"(?U)a+", "ungreedy flag"),
        (r"(?#note)a", "comment group"),
        (r"(?<name>a)", "named group"),
        (r"\u0041", "\\u escape"),
    ],
)
def test_rejects_constructs_re2_and_python_disagree_on(pattern: str, construct: str) -> None:
    with pytest.raises(Re2Error, match="RE2") as info:
        compile_re2(pattern)
    assert construct in str(info.value)


def test_rejects_empty_and_overlong_patterns() -> None:
    with pytest.raises(Re2Error, match="should not be empty"):
        compile_re2("")
    with pytest.raises(Re2Error, match="max length allowed is 1024"):
        compile_re2("a" * 1025)


def test_rejects_patterns_python_cannot_compile() -> None:
    with pytest.raises(Re2Error, match="does not compile"):
        compile_re2("(unclosed")


def test_string_match_keeps_compiled_pattern_for_full_matching() -> None:
    sm = StringMatch.model_validate({"regex": "/api/v[0-9]+"})
    assert sm.pattern is not None
    assert sm.pattern.fullmatch("/api/v2")
    assert not sm.pattern.fullmatch("/api/v2/books")  # Envoy matches the whole value
    assert sm.matches("/api/v10")
    assert not sm.matches("x/api/v1")


def test_digit_classes_are_ascii_like_re2() -> None:
    sm = StringMatch(regex=r"\d+")
    assert sm.matches("123")
    assert not sm.matches("\u0661\u0662")  # Arabic-Indic digits: \d is ASCII-only in RE2


def test_string_match_reports_regex_problems_at_the_regex_field() -> None:
    with pytest.raises(ValidationError, match="lookahead"):
        StringMatch.model_validate({"regex": "a(?=b)"})


def test_other_match_types() -> None:
    assert StringMatch(exact="jason").matches("jason")
    assert not StringMatch(exact="jason").matches("Jason")
    assert StringMatch(exact="jason").matches("JASON", ignore_case=True)
    assert StringMatch(prefix="/static").matches("/static/app.js")
    assert StringMatch(prefix="/static").prefix == "/static"
    assert StringMatch().matches("anything")  # {} = present
    assert StringMatch().model_dump(exclude_none=True) == {}
