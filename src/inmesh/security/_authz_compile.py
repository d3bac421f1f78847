"""AuthorizationPolicy rules -> Python expressions over a request's attributes.

Each value list becomes the matcher Istio generates for Envoy's RBAC filter
(pilot/pkg/security/authz/model/generator.go), written as one expression so that a whole
workload's policies compile into a single function (:mod:`._authz`). The request's
attributes are local variables of that function:

=====  ===========================================================================
``p``  the peer principal without ``spiffe://`` (``None`` without mTLS)
``u``  the peer's URI SAN ``spiffe://<p>`` (``None`` without a principal)
``ns`` a string holding ``/ns/<namespace>/`` for namespace checks (the URI), or None
``m``  method; ``h`` host, lower-cased; ``pa`` normalized path; ``po`` destination port
``hd`` headers by lower-case name; ``sn`` SNI (``""`` when none)
``si`` / ``ri`` / ``di``: source, remote and destination IP, as :func:`ip_key` integers
=====  ===========================================================================

Values are Istio's strings: ``abc`` exact, ``abc*`` prefix, ``*abc`` suffix, ``*`` presence
(checked in that order: a leading ``*`` wins). A ``not*`` list is ``not (any of them)``, so
an absent attribute satisfies it. Principals, namespaces, service accounts and trust
domains match the peer's URI SAN exactly as Istio's generated matchers do, quirks included.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from typing import Any

from ._authz_path import is_template, template_regex

__all__ = ["Emitter", "all_of", "any_of", "both", "ip_key"]

_V6 = 1 << 128


def ip_key(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
    """An address as one integer, IPv6 marked by bit 128, so that a CIDR test is one shift
    and compare (``key >> host_bits == network >> host_bits``) and never mixes versions."""
    return int(ip) if ip.version == 4 else _V6 | int(ip)


def _cost(term: str) -> int:
    """A rough cost, to test cheap conditions first (AND and OR have no side effects)."""
    if "fullmatch(" in term or "search(" in term:
        return 3
    if "hd.get(" in term or ">>" in term:
        return 2
    return 1


class Emitter:
    """Builds expressions; constants (sets, tuples, regexes, networks) go to :attr:`consts`."""

    def __init__(self) -> None:
        self.consts: dict[str, Any] = {}
        #: Every header name a condition reads (lower case): the only headers a request's
        #: header map needs.
        self.header_names: set[str] = set()

    def const(self, value: Any) -> str:
        name = f"_c{len(self.consts)}"
        self.consts[name] = value
        return name

    # -- generic string matching ----------------------------------------------------

    def strings(self, var: str, values: Sequence[str], *, star: str, lower: bool = False) -> str:
        """Any of ``values`` matches ``var``; ``star`` is the expression for a bare ``*``."""
        exact: list[str] = []
        prefixes: list[str] = []
        suffixes: list[str] = []
        for value in values:
            v = value.lower() if lower else value
            if v == "*":
                return f"({star})"
            if v.startswith("*"):
                suffixes.append(v[1:])
            elif v.endswith("*"):
                prefixes.append(v[:-1])
            else:
                exact.append(v)
        terms: list[str] = []
        if len(exact) == 1:
            terms.append(f"{var} == {exact[0]!r}")
        elif exact:
            terms.append(f"{var} in {self.const(frozenset(exact))}")
        if prefixes:
            terms.append(f"{var}.startswith({self.const(tuple(prefixes))})")
        if suffixes:
            terms.append(f"{var}.endswith({self.const(tuple(suffixes))})")
        return f"({var} is not None and ({' or '.join(terms)}))"

    def header_like(self, var: str, values: Sequence[str], *, lower: bool = False) -> str:
        # matcher.HeaderMatcher / HostMatcher: "*" is a presence match.
        return self.strings(var, values, star=f"{var} is not None", lower=lower)

    def plain(self, var: str, values: Sequence[str]) -> str:
        # matcher.StringMatcher: "*" becomes the regex ".+" (a non-empty value).
        return self.strings(var, values, star=f"bool({var})")

    # -- peer identity ----------------------------------------------------------------

    def principals(self, values: Sequence[str]) -> str:
        # StringMatcherWithPrefix(v, "spiffe://") on the URI SAN; "*" is ".+" on it, which
        # any authenticated peer has. On p (the URI without the scheme) the same tests read:
        return self.strings("p", values, star="p is not None")

    def namespaces(self, values: Sequence[str]) -> str:
        # srcNamespaceGenerator: regex ".*/ns/<ns>/.*" on the URI, "*" within <ns> -> ".*".
        terms: list[str] = []
        for value in values:
            if "*" in value:
                # fullmatch(".*/ns/<inner>/.*") is search("/ns/<inner>/") (no newlines in
                # a principal), which does not backtrack over the leading ".*".
                inner = ".*".join(re.escape(part) for part in value.split("*"))
                terms.append(f"{self.const(re.compile(f'/ns/{inner}/'))}.search(ns)")
            else:
                terms.append(f"{f'/ns/{value}/'!r} in ns")
        return f"(ns is not None and ({' or '.join(terms)}))"

    def service_accounts(self, values: Sequence[str], policy_namespace: str) -> str:
        # serviceAccountRegex: "sa" or "ns/sa", the namespace defaulting to the policy's.
        patterns = []
        for value in values:
            namespace, sep, account = value.partition("/")
            if not sep:
                namespace, account = policy_namespace, value
            patterns.append(
                f"spiffe://.+/ns/{re.escape(namespace)}/(.+/|)sa/{re.escape(account)}(/.+)?"
            )
        regex = self.const(re.compile("|".join(f"(?:{p})" for p in patterns)))
        return f"(u is not None and {regex}.fullmatch(u) is not None)"

    def trust_domains(self, values: Sequence[str]) -> str:
        # srcTrustDomainGenerator: prefix "spiffe://<td>/", "*" any, wildcards a regex.
        terms: list[str] = []
        for value in values:
            if value == "*":
                return "(u is not None)"
            if "*" not in value:
                terms.append(f"u.startswith({f'spiffe://{value}/'!r})")
            else:
                head, _, tail = value.partition("*")
                regex = f"spiffe://{re.escape(head)}[^/]*{re.escape(tail)}/.*"
                terms.append(f"{self.const(re.compile(regex))}.fullmatch(u) is not None")
        return f"(u is not None and ({' or '.join(terms)}))"

    # -- connection and request -------------------------------------------------------

    def ips(self, var: str, values: Iterable[str]) -> str:
        # Envoy CidrRange: the address is inside the block (host bits of the value ignored).
        terms = []
        for value in values:
            net = ipaddress.ip_network(value, strict=False)
            shift = net.max_prefixlen - net.prefixlen
            terms.append(f"{var} >> {shift} == {ip_key(net.network_address) >> shift}")
        return f"({var} is not None and ({' or '.join(terms)}))"

    def ports(self, values: Iterable[str]) -> str:
        return f"(po in {self.const(frozenset(int(v) for v in values))})"

    def paths(self, values: Sequence[str]) -> str:
        plain = [v for v in values if not is_template(v)]
        terms = [self.plain("pa", plain)] if plain else []
        for value in values:
            if is_template(value):
                regex = self.const(template_regex(value))
                terms.append(f"(pa is not None and {regex}.fullmatch(pa) is not None)")
        return terms[0] if len(terms) == 1 else f"({' or '.join(terms)})"

    def header(self, name: str, values: Sequence[str]) -> str:
        # One lookup, bound to _v for the tests that follow (matcher.HeaderMatcher).
        self.header_names.add(name.lower())
        lookup = f"(_v := hd.get({name.lower()!r}))"
        return f"({lookup} is not None and {self.header_like('_v', values)})"


def both(values: str | None, not_values: str | None) -> str | None:
    """``values`` and ``not (not_values)``, either possibly absent."""
    terms = [t for t in (values, f"not {not_values}" if not_values else None) if t]
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else f"({' and '.join(terms)})"


def all_of(terms: Iterable[str | None]) -> str | None:
    kept = sorted((t for t in terms if t), key=_cost)
    if not kept:
        return None
    return kept[0] if len(kept) == 1 else f"({' and '.join(kept)})"


def any_of(terms: Sequence[str | None]) -> str:
    """OR of alternatives; an alternative with no condition matches everything."""
    if any(t is None for t in terms):
        return "True"
    kept = sorted((t for t in terms if t), key=_cost)
    return kept[0] if len(kept) == 1 else f"({' or '.join(kept)})"
