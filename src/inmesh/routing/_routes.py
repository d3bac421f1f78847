"""Compiled VirtualService HTTP routes: match, destinations, rewrite, redirect, headers.

Istio's rules: the first route whose match holds wins (a route with no ``match`` matches
everything); destinations are chosen by relative weight (0 gets nothing; one destination
without a weight gets everything).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from ..balancing import WeightedChoice
from ..resilience import FaultPolicy, MirrorPolicy, RetryPolicy
from ._headers import HeaderRules
from ._hosts import to_fqdn
from ._match import Matcher, SourceInfo, compile_match
from ._request import RequestView

#: id of a match block -> (the block, its compiled matcher), for one compile
MatcherMemo = dict[int, tuple[Any, Matcher | None]]


@dataclass(frozen=True, slots=True)
class Destination:
    """One ``HTTPRouteDestination``: a host (canonical), optional subset and port."""

    host: str
    subset: str | None
    port: int | None
    headers: HeaderRules | None


@dataclass(frozen=True, slots=True)
class Rewrite:
    """``HTTPRewrite``: path prefix (or whole path) replacement, regex rewrite, authority."""

    uri: str | None
    regex: re.Pattern[str] | None
    regex_sub: str
    authority: str | None

    def path(self, path: str, matched: Matcher | None) -> str:
        """The rewritten path. Istio translates ``rewrite.uri`` to Envoy's prefix_rewrite:
        it replaces the prefix that matched, the whole path after an exact or regex match,
        and the implicit ``/`` prefix of a route with no uri match."""
        if self.regex is not None:
            # Envoy's regex_rewrite substitutes every match; RE2's \1 is Python's \1.
            return self.regex.sub(self.regex_sub, path)
        if self.uri is None:
            return path
        kind = matched.uri_kind if matched is not None else None
        if kind == "prefix" and matched is not None and matched.uri_prefix is not None:
            return self.uri + path[len(matched.uri_prefix) :]
        if kind in ("exact", "regex"):
            return self.uri
        return self.uri + path[1:] if path.startswith("/") else self.uri + path


@dataclass(frozen=True, slots=True)
class RedirectRule:
    """``HTTPRedirect``: Envoy answers the redirect itself (301 unless redirectCode says)."""

    uri: str | None
    authority: str | None
    port: int | None
    derive_port: str | None
    scheme: str | None
    code: int

    def location(self, req: RequestView, query: str) -> str:
        """The ``Location`` URL, as Envoy builds it from Istio's redirect: each part the
        redirect sets (scheme, host, port, path) replaces the request's and the rest stays.
        The host is ``authority`` (with no port unless ``port``/``derivePort`` gives one)
        or else the request's Host header, whose port Envoy drops only when a new port is
        set or when the scheme changes away from that port's default (processRequestHost);
        a port equal to the new scheme's default is not written (Istio's ApplyRedirect)."""
        scheme = self.scheme or req.scheme
        default = 443 if scheme == "https" else 80
        port: int | None = self.port
        if port is None and self.derive_port == "FROM_REQUEST_PORT":
            port = req.port
        elif port is None and self.derive_port == "FROM_PROTOCOL_DEFAULT":
            port = default
        if self.authority is not None:
            authority = self.authority
        else:
            authority = req.authority
            host, old_port = _split_port(authority)
            old_default = ":443" if req.scheme == "https" else ":80"
            if port is not None or (scheme != req.scheme and old_port == old_default):
                authority = host
        if port is not None and port != default:
            authority = f"{authority}:{port}"
        path = self.uri if self.uri is not None else req.path
        if query and "?" not in path:
            path = f"{path}?{query}"
        return f"{scheme}://{authority}{path}"


def _split_port(authority: str) -> tuple[str, str]:
    """``host[:port]`` split into the host and ``:port`` (``""`` without one); IPv6-aware."""
    end = authority.rfind("]:") + 1 if authority.startswith("[") else authority.rfind(":")
    if end <= 0:
        return authority, ""
    return authority[:end], authority[end:]


class Route:
    """One compiled ``HTTPRoute``: matchers, destinations, edits, and its resilience
    policies (timeout, retries, fault, mirrors)."""

    __slots__ = (
        "_choice",
        "destinations",
        "fault",
        "headers",
        "matchers",
        "mirrors",
        "name",
        "redirect",
        "retry",
        "retry_hashing",
        "rewrite",
        "timeout",
    )

    def __init__(
        self,
        spec: Any,
        *,
        vs_namespace: str,
        vs_name: str,
        source: SourceInfo,
        index: int,
        compiled: MatcherMemo | None = None,
    ) -> None:
        self.name: str = spec.name or f"{vs_name}.{vs_namespace}.{index}"
        matchers: list[Matcher] = []
        for m in spec.match or ():
            cm = _matcher(m, source, compiled)
            if cm is not None:
                matchers.append(cm)
        self.matchers: tuple[Matcher, ...] | None = tuple(matchers) if spec.match else None
        self.destinations = tuple(
            Destination(
                host=to_fqdn(d.destination.host, vs_namespace),
                subset=d.destination.subset or None,
                port=d.destination.port.number if d.destination.port is not None else None,
                headers=HeaderRules.of(d.headers),
            )
            for d in spec.route or ()
        )
        weights = [d.weight for d in spec.route or ()]
        if len(weights) == 1 and weights[0] is None:
            weights = [100]  # Istio: a single destination with no weight gets everything
        self._choice = WeightedChoice([w or 0 for w in weights]) if weights else None
        self.headers = HeaderRules.of(spec.headers)
        rw = spec.rewrite
        self.rewrite: Rewrite | None = None
        if rw is not None:
            rr = rw.uri_regex_rewrite
            self.rewrite = Rewrite(
                uri=rw.uri,
                regex=rr.pattern if rr is not None else None,
                regex_sub=_re2_sub(rr.rewrite) if rr is not None else "",
                authority=rw.authority,
            )
        # Resilience (Istio's HTTPRoute timeout, retries, fault, mirror). A consistent-hash
        # destination keeps retrying the same host: Istio sets no previous-hosts predicate
        # there, so the policy is compiled both ways and the cluster picks one.
        self.timeout: float | None = spec.timeout
        self.fault = FaultPolicy.from_istio(spec.fault)
        if spec.retries is None:
            # Istio's default policy: one frozen pair shared by every route that sets none
            self.retry, self.retry_hashing = _default_retries()
        else:
            self.retry = RetryPolicy.from_istio(spec.retries)
            self.retry_hashing = RetryPolicy.from_istio(spec.retries, consistent_hash=True)
        self.mirrors = _mirrors(spec, vs_namespace)
        rd = spec.redirect
        self.redirect: RedirectRule | None = None
        if rd is not None:
            self.redirect = RedirectRule(
                uri=rd.uri,
                authority=rd.authority,
                port=rd.port,
                derive_port=rd.derive_port,
                scheme=rd.scheme,
                code=rd.redirect_code or 301,
            )

    @property
    def unreachable(self) -> bool:
        """True when every match block was dropped for this client (sourceLabels etc.)."""
        return self.matchers == ()

    def match(self, req: RequestView) -> tuple[bool, Matcher | None]:
        """Whether the route takes ``req``, and the match block that took it."""
        ms = self.matchers
        if ms is None:
            return True, None
        for m in ms:
            if m(req):
                return True, m
        return False, None

    def choose(self) -> Destination | None:
        """A destination by weight, or None when every weight is zero."""
        if self._choice is None:
            return None
        i = self._choice.choose()
        return None if i is None else self.destinations[i]


@dataclass(frozen=True, slots=True)
class Mirror:
    """One mirror target: where copies go and which share of requests is copied."""

    host: str
    subset: str | None
    port: int | None
    policy: MirrorPolicy


def _mirrors(spec: Any, namespace: str) -> tuple[Mirror, ...]:
    """``mirror`` with ``mirrorPercentage`` (every request when unset), and ``mirrors``."""
    out: list[Mirror] = []
    if spec.mirror is not None:
        policy = MirrorPolicy.from_istio(spec.mirror_percentage, spec.mirror_percent)
        if policy is not None:
            out.append(_mirror(spec.mirror, namespace, policy))
    for m in spec.mirrors or ():
        policy = MirrorPolicy.from_istio(m.percentage)
        if policy is not None:
            out.append(_mirror(m.destination, namespace, policy))
    return tuple(out)


def _mirror(dest: Any, namespace: str, policy: MirrorPolicy) -> Mirror:
    port = dest.port.number if dest.port is not None else None
    return Mirror(to_fqdn(dest.host, namespace), dest.subset or None, port, policy)


def _re2_sub(rewrite: str) -> str:
    r"""RE2 substitution (``\1``) to Python's (``\g<1>``), so ``\10`` stays unambiguous."""
    return re.sub(r"\\(\d)", r"\\g<\1>", rewrite)


@functools.cache
def _default_retries() -> tuple[RetryPolicy, RetryPolicy]:
    return RetryPolicy.from_istio(None), RetryPolicy.from_istio(None, consistent_hash=True)


def _matcher(m: Any, source: SourceInfo, compiled: MatcherMemo | None) -> Matcher | None:
    """``compile_match(m, source)``, once per match block object when ``compiled`` is
    given: a loaded configuration shares equal blocks (``config._compact``), and a
    Matcher holds no state, so routes may share it."""
    if compiled is None:
        return compile_match(m, source)
    hit = compiled.get(id(m))
    if hit is not None and hit[0] is m:
        return hit[1]
    cm = compile_match(m, source)
    compiled[id(m)] = (m, cm)  # the block is kept: its id stays its own
    return cm


def compile_http_routes(
    vs: Any, source: SourceInfo, compiled: MatcherMemo | None = None
) -> tuple[Route, ...]:
    """The routes of one VirtualService that can apply to ``source``, in order
    (``compiled``: see :func:`_matcher`)."""
    out = []
    for i, spec in enumerate(vs.spec.http or ()):
        r = Route(
            spec,
            vs_namespace=vs.namespace,
            vs_name=vs.name,
            source=source,
            index=i,
            compiled=compiled,
        )
        if not r.unreachable:
            out.append(r)
    return tuple(out)
