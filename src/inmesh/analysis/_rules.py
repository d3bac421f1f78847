"""IST0130 VirtualServiceUnreachableRule and IST0131 VirtualServiceIneffectiveMatch, as
Istio's ``analyzeUnreachableHTTPRules`` / ``...TCPRules`` / ``...TLSRules`` (validation.go):

- a rule after a rule without matches, and a second rule without matches (IST0130);
- a match block equal (every field but its name) to an earlier one, in an earlier rule or
  the same rule (IST0131), and a rule whose every match is such a repeat (IST0130);
- HTTP only: a uri-prefix match covered by an earlier, shorter prefix whose port, method,
  authority, headers, query parameters and withoutHeaders cover it too
  (``genMatchHTTPRoutes`` / ``coveredValidation``; IST0131).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._message import Message


def _route_name(route: Any, i: int) -> str:
    # routeName: an HTTP route's quoted name, else its index (TCP/TLS routes have no names).
    name = getattr(route, "name", None)
    return f'"{name}"' if name else f"#{i}"


def _match_name(match: Any, j: int) -> str:
    name = getattr(match, "name", None)
    return f'"{name}"' if name else f"#{j}"


def _as_json(match: Any) -> str:
    # asJSON: the match serialised without its name, unset fields left out.
    data = match.model_dump(mode="json", exclude={"name"}, exclude_defaults=True)
    return json.dumps(data, sort_keys=True)


def _exact_or_prefix(m: Any) -> str:
    # assignExactOrPrefix (matchExact = "exact:", matchPrefix = "prefix:").
    if m is None:
        return ""
    if m.exact:
        return f"exact:{m.exact}"
    if m.prefix:
        return f"prefix:{m.prefix}"
    return ""


@dataclass(frozen=True)
class _PrefixMatch:
    """OverlappingMatchValidationForHTTPRoute."""

    route: str
    match: str
    prefix: str
    port: int | None
    method: str
    authority: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    without: Mapping[str, str]


def _prefix_match(route: str, m: Any, j: int) -> _PrefixMatch | None:
    if m.uri is None or not m.uri.prefix:
        return None
    return _PrefixMatch(
        route,
        _match_name(m, j),
        m.uri.prefix,
        m.port,
        _exact_or_prefix(m.method) or "exact:GET",  # no method: GET, as Istio assumes
        _exact_or_prefix(m.authority),
        {k: _exact_or_prefix(v) for k, v in m.headers.items()},
        {k: _exact_or_prefix(v) for k, v in m.query_params.items()},
        {k: _exact_or_prefix(v) for k, v in m.without_headers.items()},
    )


def _covers_map(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    if len(a) != len(b):
        return False
    return all(k in b and (v == b[k] or v.startswith(b[k])) for k, v in a.items())


def _covered(a: _PrefixMatch, b: _PrefixMatch) -> bool:
    """coveredValidation: whether ``a`` (earlier) leaves nothing for ``b``, field by field
    as Istio compares them."""
    if not b.prefix.startswith(a.prefix) or a.port != b.port:
        return False
    for x, y in ((a.method, b.method), (a.authority, b.authority)):
        if x != y and not x.startswith(y):
            return False
    return all(
        _covers_map(x, y)
        for x, y in ((a.headers, b.headers), (a.query, b.query), (a.without, b.without))
    )


def unreachable_rules(spec: Any, label: str) -> list[Message]:
    """IST0130 and IST0131 over a VirtualService's http, tcp and tls routes."""
    msgs: list[Message] = []

    def unreachable(rule: str, reason: str) -> None:
        msgs.append(
            Message(
                "Warning",
                "IST0130",
                "VirtualServiceUnreachableRule",
                label,
                f"VirtualService rule {rule} not used ({reason}).",
            )
        )

    def ineffective(rule: str, match: str, dup: str) -> None:
        msgs.append(
            Message(
                "Info",
                "IST0131",
                "VirtualServiceIneffectiveMatch",
                label,
                f"VirtualService rule {rule} match {match} is not used "
                f"(duplicate/overlapping match in rule {dup}).",
            )
        )

    for routes, http in ((spec.http, True), (spec.tcp, False), (spec.tls, False)):
        prefixes = _walk(routes or (), http, unreachable, ineffective)
        # Istio: each later prefix match against every earlier one (no stop at the first).
        for i, earlier in enumerate(prefixes):
            for later in prefixes[i + 1 :]:
                if later.prefix != earlier.prefix and _covered(earlier, later):
                    ineffective(
                        later.route,
                        f"{later.match} of prefix {later.prefix}",
                        f"{earlier.match} of prefix {earlier.prefix} on {earlier.route}",
                    )
    return msgs


def _walk(
    routes: Sequence[Any], http: bool, unreachable: Any, ineffective: Any
) -> list[_PrefixMatch]:
    seen: dict[str, int] = {}
    catch_all = -1
    prefixes: list[_PrefixMatch] = []
    for i, route in enumerate(routes):
        name = _route_name(route, i)
        if not route.match:
            if catch_all >= 0:
                unreachable(name, "only the last rule can have no matches")
            catch_all = i
            continue
        duplicates = 0
        for j, m in enumerate(route.match):
            if catch_all >= 0:
                unreachable(name, "route without matches defined before")
                continue
            key = _as_json(m)
            if key in seen:
                ineffective(name, _match_name(m, j), _route_name(routes[seen[key]], seen[key]))
                duplicates += 1
                continue
            seen[key] = i
            found = _prefix_match(name, m, j) if http else None
            if found is not None:
                prefixes.append(found)
        if duplicates == len(route.match):
            unreachable(name, "all matches used by prior rules")
    return prefixes
