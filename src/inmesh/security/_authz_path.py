"""Request paths as Istio's authorization sees them, and its ``{*}``/``{**}`` templates.

Normalization is Istio's default, ``BASE`` (Envoy's ``normalize_path``; the table in
istio.io/latest/docs/reference/config/security/normalization), applied once:

1. everything from ``?`` (the query) or ``#`` is dropped;
2. ``%00`` rejects the request (Envoy answers 400 before any policy);
3. percent-encoded unreserved characters are decoded, once, case-insensitively: ``%2D``
   ``-``, ``%2E`` ``.``, ``%30``-``%39``, ``%41``-``%5A``, ``%5F`` ``_``, ``%61``-``%7A``,
   ``%7E`` ``~``. ``%2F`` and ``%5C`` stay encoded (only DECODE_AND_MERGE_SLASHES decodes
   them), as does everything else;
4. ``\\`` becomes ``/``;
5. ``.`` and ``..`` segments are removed (RFC 3986 section 5.2.4).

Slashes are not merged (that is MERGE_SLASHES, not the default).

Templates follow Envoy's ``uri_template`` matcher (Istio rewrites ``{*}`` to ``*`` and
``{**}`` to ``**``): ``{*}`` is one non-empty segment of pchar characters, ``{**}`` any
number of characters including ``/`` (possibly none); the whole normalized path must match.
"""

from __future__ import annotations

import re

__all__ = ["is_template", "normalize_path", "template_regex"]

_UNRESERVED = frozenset("-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
# Envoy uri_template_internal.cc kLiteral: unreserved, '%', sub-delims but '*' and '=', ':@'.
_PCHAR = r"A-Za-z0-9\-._~%!$&'()+,;:@"
_ONE_SEGMENT = f"[{_PCHAR}]+"
_ANY_SEGMENTS = f"[{_PCHAR}/]*"


def _decode(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else match.group(0)


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 section 5.2.4, on segments: "." is dropped, ".." drops the one before it;
    # a path ending in "." or ".." keeps its trailing slash.
    segments = path.split("/")
    out: list[str] = []
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == ".":
            if last:
                out.append("")
        elif segment == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(segment)
    result = "/".join(out)
    if path.startswith("/") and not result.startswith("/"):
        result = "/" + result
    return result


def normalize_path(raw: str) -> str | None:
    """The path Istio's policies see for the request target ``raw``; ``None`` when Envoy
    rejects the request (``%00``)."""
    path = raw.partition("?")[0]
    if "#" in path:
        path = path.partition("#")[0]
    if "%" in path:
        if "%00" in path:
            return None
        path = _ESCAPE.sub(_decode, path)
    if "\\" in path:
        path = path.replace("\\", "/")
    if "/." in path or path.startswith("."):
        path = _remove_dot_segments(path)
    return path


def is_template(value: str) -> bool:
    """security.ContainsPathTemplate: the value uses ``{*}`` or ``{**}``."""
    return "{*}" in value or "{**}" in value


def template_regex(template: str) -> re.Pattern[str]:
    """The regex Envoy's ``uri_template`` matcher builds for an Istio path template."""
    parts: list[str] = []
    for segment in template.split("/"):
        if segment == "{*}":
            parts.append(_ONE_SEGMENT)
        elif segment == "{**}":
            parts.append(_ANY_SEGMENTS)
        else:
            parts.append(re.escape(segment))
    return re.compile("/".join(parts))
