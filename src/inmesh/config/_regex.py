"""Regular expressions as Istio (RE2, via Envoy) understands them, compiled with Python's ``re``.

Istio validates every ``regex`` against Go's RE2 syntax and Envoy matches it with RE2 against
the *whole* value. inmesh compiles the same text with Python's ``re`` and matches with
``pattern.fullmatch(value)``. That is only faithful when both engines read the pattern the
same way, so :func:`compile_re2` rejects, with an error naming the construct:

* Python features RE2 lacks: backreferences (``\\1``, ``(?P=name)``), lookahead and
  lookbehind, atomic groups and possessive quantifiers, conditionals ``(?(``, comments
  ``(?#``, the flags ``a L u x``, the escapes ``\\Z \\u \\U \\N``, ``{,n}``;
* RE2 syntax Python cannot express: ``\\p{..}``/``\\pL`` Unicode classes, ``\\C``, ``\\z``,
  ``\\Q..\\E``, ``\\x{..}``, POSIX classes ``[[:alpha:]]``, the ``U`` flag;
* repeat counts above RE2's limit of 1000 and patterns over Istio's 1024-character limit.

Patterns compile with ``re.ASCII`` because RE2's ``\\d \\w \\s \\b`` are ASCII-only.
"""

from __future__ import annotations

import re

__all__ = ["Re2Error", "compile_re2"]

MAX_REGEX_LENGTH = 1024  # validation.go validateStringRegexp
MAX_REPEAT = 1000  # RE2's kMaxRepeat

_RE2_FLAGS = frozenset("imsU")
_PYTHON_ONLY_FLAGS = frozenset("aLux")
_GROUP_PREFIXES: tuple[tuple[str, str], ...] = (
    ("(?P=", "named backreference (?P=name)"),
    ("(?<=", "lookbehind (?<=...)"),
    ("(?<!", "negative lookbehind (?<!...)"),
    ("(?<", "a named group (?<name>...); write (?P<name>...) instead"),
    ("(?=", "lookahead (?=...)"),
    ("(?!", "negative lookahead (?!...)"),
    ("(?>", "atomic group (?>...)"),
    ("(?(", "conditional (?(...)...)"),
    ("(?#", "comment group (?#...)"),
)
_BAD_ESCAPES: dict[str, str] = {
    "p": "Unicode class \\p{...} / \\pL",
    "P": "Unicode class \\P{...} / \\PL",
    "C": "\\C (any byte)",
    "z": "\\z (end of text); write $ (without the m flag) instead",
    "Z": "\\Z (RE2 does not support it); write $ instead",
    "Q": "quoted literal \\Q...\\E",
    "E": "\\E",
    "u": "\\u escape",
    "U": "\\U escape",
    "N": "\\N{...} escape",
    "G": "\\G",
}


class Re2Error(ValueError):
    """A pattern RE2 rejects or that Python's ``re`` would read differently."""


def _fail(pattern: str, index: int, what: str) -> Re2Error:
    return Re2Error(
        f"regex {pattern!r} uses {what} at position {index}, which RE2 (Istio/Envoy) does "
        "not support the same way; see https://github.com/google/re2/wiki/Syntax"
    )


def _check_escape(pattern: str, i: int, in_class: bool) -> int:
    """Check the escape at ``pattern[i] == '\\\\'``; return the index after it."""
    if i + 1 >= len(pattern):
        raise _fail(pattern, i, "a trailing backslash")
    char = pattern[i + 1]
    if char in "123456789":
        # RE2 has no backreferences; Python reads \1 (and \12) as one, or octal in a class.
        raise _fail(pattern, i, f"backreference \\{char}")
    if char in _BAD_ESCAPES:
        raise _fail(pattern, i, _BAD_ESCAPES[char])
    if char == "x" and pattern.startswith("{", i + 2):
        raise _fail(pattern, i, "hex escape \\x{...}; write \\xHH instead")
    if char == "b" and in_class:
        raise _fail(pattern, i, "\\b inside a character class")
    return i + 2


def _skip_class(pattern: str, i: int) -> int:
    """Check the character class starting at ``pattern[i] == '['``; return the index after it."""
    start = i
    i += 1
    if pattern.startswith("^", i):
        i += 1
    if pattern.startswith("]", i):  # a leading ] is literal in both engines
        i += 1
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i = _check_escape(pattern, i, in_class=True)
            continue
        if char == "[":
            if (
                pattern.startswith("[:", i)
                or pattern.startswith("[=", i)
                or pattern.startswith("[.", i)
            ):
                raise _fail(pattern, i, "a POSIX character class like [[:alpha:]]")
            raise _fail(pattern, i, "a nested '[' in a character class (Python warns, RE2 differs)")
        if char == "]":
            return i + 1
        i += 1
    raise Re2Error(f"regex {pattern!r}: unterminated character class starting at {start}")


def _check_flags(pattern: str, i: int) -> None:
    """Check an inline flag group ``(?flags)`` or ``(?flags:...)`` starting at ``i``."""
    j = i + 2
    while j < len(pattern) and pattern[j] not in ":)":
        flag = pattern[j]
        if flag in _PYTHON_ONLY_FLAGS:
            raise _fail(pattern, i, f"the inline flag {flag!r}, which RE2 does not have")
        if flag == "U":
            raise _fail(pattern, i, "the ungreedy flag U, which Python does not have")
        if flag not in _RE2_FLAGS and flag != "-":
            raise _fail(pattern, i, f"an unknown group syntax (?{flag}")
        j += 1


def _check_repeat(pattern: str, i: int) -> int:
    """Check a ``{...}`` at ``i``; return the index after it."""
    close = pattern.find("}", i)
    body = pattern[i + 1 : close] if close != -1 else ""
    if close == -1 or not re.fullmatch(r"\d*(,\d*)?", body) or body in ("", ","):
        return i + 1  # a literal brace in both engines
    if body.startswith(","):
        raise _fail(pattern, i, "'{,n}' (Python reads it as {0,n}, RE2 as literal text)")
    for number in body.split(","):
        if number and int(number) > MAX_REPEAT:
            raise _fail(pattern, i, f"a repeat count above RE2's limit of {MAX_REPEAT}")
    return close + 1


def _check_syntax(pattern: str) -> None:
    i = 0
    after_quantifier = False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i = _check_escape(pattern, i, in_class=False)
            after_quantifier = False
            continue
        if char == "[":
            i = _skip_class(pattern, i)
            after_quantifier = False
            continue
        if char == "(" and pattern.startswith("(?", i):
            for prefix, what in _GROUP_PREFIXES:
                if pattern.startswith(prefix, i):
                    raise _fail(pattern, i, what)
            if not pattern.startswith("(?P<", i) and not pattern.startswith("(?:", i):
                _check_flags(pattern, i)
        if char in "*+?" or (char == "{" and _check_repeat(pattern, i) != i + 1):
            if after_quantifier and char == "+":
                raise _fail(pattern, i, "a possessive quantifier (*+, ++, ?+, {n}+)")
            if after_quantifier and char != "?":
                raise _fail(pattern, i, f"a repeated quantifier ending in {char!r}")
            # a lazy marker '?' ends the quantifier; anything else may follow it
            after_quantifier = not (after_quantifier and char == "?")
            i = _check_repeat(pattern, i) if char == "{" else i + 1
            continue
        after_quantifier = False
        i += 1


def compile_re2(pattern: str) -> re.Pattern[str]:
    """Compile ``pattern`` for full matching, after checking it means the same in RE2.

    Raises :class:`Re2Error` (a ``ValueError``) naming the offending construct.
    """
    if pattern == "":
        raise Re2Error("regex string match should not be empty")
    if len(pattern) > MAX_REGEX_LENGTH:
        raise Re2Error(f"regex is too large, max length allowed is {MAX_REGEX_LENGTH}")
    _check_syntax(pattern)
    try:
        return re.compile(pattern, re.ASCII)
    except re.error as exc:
        raise Re2Error(
            f"regex {pattern!r} does not compile: {exc}; Istio uses RE2 style regex-based match "
            "(https://github.com/google/re2/wiki/Syntax)"
        ) from exc
