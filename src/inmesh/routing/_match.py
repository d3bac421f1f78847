"""Compiled VirtualService match conditions (``HTTPMatchRequest``), as Istio documents them.

Match blocks in one ``match`` list are ORed; the conditions inside one block are ANDed.
Conditions that depend only on the client itself (``sourceLabels``, ``sourceNamespace``,
``gateways``) are decided when the snapshot is compiled, so a request pays only for what
depends on the request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .._namespaces import selects
from ._request import RequestView

StrPredicate = Callable[[str], bool]

# Istio: the keys uri, scheme, method and authority in a `headers` match are ignored.
_IGNORED_HEADER_KEYS = frozenset({"uri", "scheme", "method", "authority"})


def string_predicate(sm: Any, *, ignore_case: bool = False) -> StrPredicate:
    """A predicate for an Istio ``StringMatch`` (exact, prefix or regex).

    Regex is RE2 syntax matched against the whole value (Envoy's ``safe_regex``), so it is
    compiled once and applied with ``fullmatch``. ``ignore_case`` applies to exact and
    prefix only (Istio's ``ignoreUriCase`` rule). An empty StringMatch (``{}``) matches
    any value: for headers it means "present".
    """
    if sm.exact is not None:
        want: str = sm.exact
        if ignore_case:
            low = want.lower()
            return lambda v: v.lower() == low
        return want.__eq__
    if sm.prefix is not None:
        pre: str = sm.prefix
        if ignore_case:
            lpre = pre.lower()
            return lambda v: v.lower().startswith(lpre)
        return lambda v: v.startswith(pre)
    if sm.regex is not None:
        pattern: re.Pattern[str] = sm.pattern  # compiled at load, RE2 semantics (re.ASCII)
        return lambda v: pattern.fullmatch(v) is not None
    return lambda v: True


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """Who is calling: this Mesh's own namespace and labels (for sourceLabels/Namespace)."""

    namespace: str
    labels: Mapping[str, str]


class Matcher:
    """One ``HTTPMatchRequest`` block: all of its conditions must hold."""

    __slots__ = ("_checks", "name", "uri_kind", "uri_prefix")

    def __init__(
        self,
        checks: list[Callable[[RequestView], bool]],
        *,
        name: str | None,
        uri_kind: str | None,
        uri_prefix: str | None,
    ) -> None:
        self._checks = tuple(checks)
        self.name = name
        #: how the uri matched ("exact", "prefix", "regex" or None): rewrite.uri needs it.
        self.uri_kind = uri_kind
        self.uri_prefix = uri_prefix

    def __call__(self, req: RequestView) -> bool:
        # a plain loop: all() over a generator costs ~0.3 us more per request
        for check in self._checks:  # noqa: SIM110
            if not check(req):
                return False
        return True


def _header_check(
    name: str, pred: StrPredicate, *, negate: bool, presence: bool = False
) -> Callable[[RequestView], bool]:
    if negate:
        # Istio `withoutHeaders`: the block fails when the header condition matches. Istio
        # sets Envoy's treat_missing_header_as_empty on these (except the presence form), so
        # a missing header is compared as "".
        def check(req: RequestView) -> bool:
            v = req.headers.get(name)
            if v is None:
                return presence or not pred("")
            return not pred(v)
    else:

        def check(req: RequestView) -> bool:
            v = req.headers.get(name)
            return v is not None and pred(v)

    return check


def compile_match(m: Any, source: SourceInfo, *, mesh_gateway_ok: bool = True) -> Matcher | None:
    """Compile one match block, or return None when it can never match for ``source``.

    A block naming ``gateways`` applies to mesh traffic only when that list holds the
    reserved name ``mesh``, and then regardless of its source conditions (Istio: "the
    gateway match is independent of sourceLabels"; pilot's ``sourceMatchHTTP``); otherwise
    ``sourceLabels`` must be a subset of the client's labels and ``sourceNamespace`` equal
    to its namespace.
    """
    if m.gateways:
        if "mesh" not in m.gateways:
            return None
    elif (m.source_labels and not selects(m.source_labels, source.labels)) or (
        m.source_namespace and m.source_namespace != source.namespace
    ):
        return None
    checks: list[Callable[[RequestView], bool]] = []
    uri_kind: str | None = None
    uri_prefix: str | None = None
    if m.uri is not None:
        p = string_predicate(m.uri, ignore_case=bool(m.ignore_uri_case))
        checks.append(lambda req: p(req.path))
        if m.uri.exact is not None:
            uri_kind = "exact"
        elif m.uri.prefix is not None:
            uri_kind, uri_prefix = "prefix", m.uri.prefix
        elif m.uri.regex is not None:
            uri_kind = "regex"
    if m.scheme is not None:
        ps = string_predicate(m.scheme)
        checks.append(lambda req: ps(req.scheme))
    if m.method is not None:
        pm = string_predicate(m.method)
        checks.append(lambda req: pm(req.method))
    if m.authority is not None:
        pa = string_predicate(m.authority)
        checks.append(lambda req: pa(req.authority))
    if m.port is not None:
        port = int(m.port)
        checks.append(lambda req: req.port == port)
    for hname, hm in (m.headers or {}).items():
        if hname.lower() in _IGNORED_HEADER_KEYS:
            continue
        checks.append(_header_check(hname.lower(), string_predicate(hm), negate=False))
    for hname, hm in (m.without_headers or {}).items():
        presence = hm.exact is None and hm.prefix is None and hm.regex is None
        checks.append(
            _header_check(hname.lower(), string_predicate(hm), negate=True, presence=presence)
        )
    for qname, qm in (m.query_params or {}).items():
        checks.append(_query_check(qname, string_predicate(qm)))
    return Matcher(checks, name=m.name, uri_kind=uri_kind, uri_prefix=uri_prefix)


def _query_check(name: str, pred: StrPredicate) -> Callable[[RequestView], bool]:
    def check(req: RequestView) -> bool:
        v = req.query_param(name)
        return v is not None and pred(v)

    return check
