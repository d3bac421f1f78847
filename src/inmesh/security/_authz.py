"""Istio's authorization, evaluated in-process: ``check`` and the compiled evaluators.

Semantics (istio pilot/pkg/security/authz and the AuthorizationPolicy reference):

1. Applicable policies: those in the workload's namespace and in the root namespace
   (``istio-system``), whose ``selector.matchLabels`` (if any) the workload's labels hold.
2. CUSTOM is refused by name (not supported yet), as are the other fields
   :mod:`._authz_policy` lists.
3. A matching DENY policy denies. Otherwise, if no ALLOW policy applies the request is
   allowed; if one applies, a matching ALLOW policy allows and anything else is denied.
4. AUDIT policies never decide (a match is reported). Policies annotated
   ``istio.io/dry-run: "true"`` never decide either: they are evaluated on the side and
   reported (an ALLOW policy in dry-run does not count as applicable).

Policies are compiled once (:class:`Authorizer`); :meth:`Authorizer.for_workload` then
builds a :class:`WorkloadAuthorizer` whose rules are one generated Python function per
action (the way ``dataclasses`` and ``namedtuple`` generate code), so that a request costs
one call with its attributes as arguments rather than an interpreter walk over rule
objects. :attr:`WorkloadAuthorizer.source` shows the generated code.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, NoReturn

from .._errors import ConfigError, ConfigProblem
from ._authz_compile import Emitter, ip_key
from ._authz_connection import Candidates, GroupPlan, first_match
from ._authz_headers import HeaderNames
from ._authz_path import normalize_path
from ._authz_policy import ROOT_NAMESPACE, CompiledPolicy, compile_policy
from ._authz_request import AuthzRequest, Decision
from ._identity import SPIFFE_SCHEME

__all__ = ["Authorizer", "WorkloadAuthorizer", "check"]

_ARGS = "p, u, ns, m, h, pa, po, hd, si, ri, di, sn"
_Match = Callable[..., "Decision | None"]
_UNSEEN: Any = object()  # a header name check_raw has not met yet


def _refuse_raw(principal: str | None, mtls: bool, port: int | None) -> NoReturn:
    """check_raw's refusals, as :class:`AuthzRequest` words them."""
    if principal is not None and not mtls:
        raise ValueError("a plaintext request (mtls=False) has no source principal or namespace")
    raise ValueError(f"port must be within 0..65535, got {port}")


_NO_ALLOW_POLICY = Decision(True, None, "ALLOW", reason="no ALLOW policy applies to the workload")
_NO_ALLOW_MATCH = Decision(False, None, "DENY", reason="no ALLOW policy matched")
_BAD_PATH = Decision(
    False, None, "DENY", reason="the path holds %00: rejected before authorization (400)"
)
_IP_CACHE: dict[str, int] = {}
#: longer paths are normalized every time: the table stays small (1,024 x this)
_MAX_KEPT_TARGET = 256


def _ip(text: str | None) -> int | None:
    """The address as an :func:`ip_key` integer; parsed once per distinct string."""
    if text is None:
        return None
    key = _IP_CACHE.get(text)
    if key is None:
        try:
            key = ip_key(ipaddress.ip_address(text))
        except ValueError:
            raise ValueError(f"not an IP address: {text!r}") from None
        if len(_IP_CACHE) >= 4096:
            _IP_CACHE.clear()
        _IP_CACHE[text] = key
    return key


class WorkloadAuthorizer:
    """The policies that apply to one workload, compiled; :meth:`check` per request."""

    def __init__(
        self,
        policies: Iterable[CompiledPolicy],
        consts: Mapping[str, Any],
        header_names: Iterable[str] | None = None,
    ) -> None:
        chosen = list(policies)
        self.policies: tuple[str, ...] = tuple(p.key for p in chosen)
        uses: set[str] = set()
        for p in chosen:
            uses |= p.uses
        self._uses_path = "pa" in uses
        self._uses_headers = "hd" in uses
        self._uses_ips = bool(uses & {"si", "ri", "di"})
        #: The raw (latin-1) names of the headers the conditions read, for
        #: :meth:`check_raw`'s header map (``None``: every header).
        raw_names: frozenset[bytes] | None = None
        if header_names is not None:
            raw: set[bytes] = set()
            for name in header_names:
                try:
                    raw.add(name.encode("latin-1"))
                except UnicodeEncodeError:
                    continue  # no header a client can send has this name
            raw_names = frozenset(raw)
        #: a request's header name as spelled -> the header map's name, or None when no
        #: condition reads it: check_raw's one lookup per header
        self._header_names = HeaderNames(raw_names)
        #: a request's path as sent (before ``?``) -> its normalized path (None: rejected,
        #: %00)
        self._paths: dict[bytes, str | None] = {}
        sources: list[str] = []
        namespace: dict[str, Any] = dict(consts)

        connection_sources: list[str] = []
        groups: list[GroupPlan | None] = []

        def build(label: str, action: str, dry_run: bool | None) -> _Match | None:
            group = [
                p
                for p in chosen
                if p.action == action and (dry_run is None or p.dry_run == dry_run)
            ]
            built = self._build(label, group, namespace, sources)
            if built is None:
                groups.append(None)
                return None
            match, decisions = built
            groups.append(GroupPlan(label, group, decisions, namespace, connection_sources))
            return match

        self._deny = build("deny", "DENY", False)
        self._allow = build("allow", "ALLOW", False)
        self._audit = build("audit", "AUDIT", None)
        self._dry_deny = build("dry_deny", "DENY", True)
        self._dry_allow = build("dry_allow", "ALLOW", True)
        self._side = any(f is not None for f in (self._audit, self._dry_deny, self._dry_allow))
        #: The generated matching functions, for reading and debugging.
        self.source = "\n".join(sources)
        #: :meth:`check_raw`'s functions: each rule's connection half, then request half.
        self.connection_source = "\n".join(connection_sources)
        self._groups = tuple(groups)
        self._by_connection: dict[tuple[Any, ...], tuple[Candidates | None, ...]] = {}

    @staticmethod
    def _build(
        label: str, policies: list[CompiledPolicy], namespace: dict[str, Any], sources: list[str]
    ) -> tuple[_Match, list[Decision]] | None:
        """One function returning the Decision of the first matching rule, else None, and
        every rule's Decision in order. Decisions are made here, once: a request only
        picks one."""
        if not policies:
            return None
        decisions: list[Decision] = []
        lines = [f"def _match_{label}({_ARGS}):"]
        for policy in policies:
            allowed = policy.action != "DENY"
            lines.append(f"    # {policy.action} {policy.key}")
            for ri, expr in enumerate(policy.rules):
                name = f"_d{len(namespace)}"
                reason = f"{policy.action} policy {policy.key} matched"
                namespace[name] = Decision(
                    allowed,
                    policy.key,
                    "ALLOW" if allowed else "DENY",
                    reason=reason,
                    rule=ri,
                )
                decisions.append(namespace[name])
                lines.append(f"    if {expr}:")
                lines.append(f"        return {name}")
        lines.append("    return None")
        code = "\n".join(lines)
        sources.append(code)
        exec(compile(code, f"<authz {label}>", "exec"), namespace)
        fn: _Match = namespace[f"_match_{label}"]
        return fn, decisions

    def _facts(self, r: AuthzRequest) -> tuple[Any, ...] | None:
        principal = r.source_principal
        p: str | None = None
        u: str | None = None
        ns: str | None = None
        if r.is_mtls:
            p = principal if principal is not None else ""
            if principal:
                u = ns = "spiffe://" + principal
            elif r.source_namespace is not None:
                ns = f"/ns/{r.source_namespace}/"
        pa = None
        if self._uses_path and r.path is not None:
            pa = normalize_path(r.path)
            if pa is None:
                return None
        hd = r.header_map() if self._uses_headers else None
        if self._uses_ips:
            si = _ip(r.source_ip)
            ri = _ip(r.remote_ip) if r.remote_ip is not None else si
            di = _ip(r.destination_ip)
        else:
            si = ri = di = None
        host = r.host.lower() if r.host is not None else None
        return (p, u, ns, r.method, host, pa, r.port, hd, si, ri, di, r.sni or "")

    def check(self, request: AuthzRequest) -> Decision:
        """Would ``request`` be let in? (Istio's order: DENY, then ALLOW; AUDIT and dry-run
        policies only reported.)"""
        facts = self._facts(request)
        if facts is None:
            return _BAD_PATH
        return self._decide(facts)

    def check_raw(
        self,
        *,
        method: str,
        target: bytes,
        host: bytes | None,
        port: int | None,
        headers: Iterable[tuple[bytes, bytes]],
        principal: str | None,
        mtls: bool,
        source_ip: str | None,
        destination_ip: str | None,
        sni: str | None,
    ) -> Decision:
        """:meth:`check` for a request as a server holds it (the inbound middleware's path):
        the same decision as ``check(AuthzRequest(...))`` with the same attributes decoded
        as latin-1, without building the request object, and decoding only the headers
        and the path the policies read. ``principal`` is Istio's form (no ``spiffe://``).

        Raises ValueError as :class:`AuthzRequest` does (a principal without mTLS, a port
        out of range, an address that is not an IP)."""
        if principal is not None and principal.startswith(SPIFFE_SCHEME):
            principal = principal[len(SPIFFE_SCHEME) :]
        if (principal is not None and not mtls) or (port is not None and not 0 <= port <= 65535):
            _refuse_raw(principal, mtls, port)
        p: str | None = None
        u: str | None = None
        if mtls:
            p = principal if principal is not None else ""
            if principal:
                u = SPIFFE_SCHEME + principal
        pa = None
        if self._uses_path:
            # keyed by the path before any query: normalize_path drops the query first.
            # The middleware passes ASGI's raw_path, which has none; a caller of
            # InboundPolicy.check_raw may pass a whole target, whose query (client data)
            # would only churn the table
            sent = target.partition(b"?")[0]
            pa = self._paths.get(sent, _UNSEEN)
            if pa is _UNSEEN:
                pa = normalize_path(sent.decode("latin-1"))
                if len(sent) <= _MAX_KEPT_TARGET:
                    if len(self._paths) >= 1024:
                        self._paths.clear()
                    self._paths[sent] = pa
            if pa is None:
                return _BAD_PATH
        hd: dict[str, str] | None = None
        if self._uses_headers:
            # Most requests carry no header a condition reads: decided in C, then the map
            names = self._header_names
            if type(headers) is not list and type(headers) is not tuple:
                headers = list(headers)  # read twice below
            hd = names.header_map(headers) if names.any_read(headers) else {}
        plan = self._by_connection.get(
            (principal, mtls, source_ip, destination_ip, sni, port)
        ) or self._plan(principal, mtls, source_ip, destination_ip, sni, port, p, u)
        deny, allow, audit, dry_deny, dry_allow = plan
        m = method
        h = host.decode("latin-1").lower() if host is not None else None
        decision = first_match(deny, m, h, pa, port, hd) if deny is not None else None
        if decision is None:
            if allow is None:
                decision = _NO_ALLOW_POLICY
            else:
                decision = first_match(allow, m, h, pa, port, hd) or _NO_ALLOW_MATCH
        if not self._side:
            return decision
        return self._side_results(
            decision,
            first_match(audit, m, h, pa, port, hd) if audit is not None else None,
            first_match(dry_deny, m, h, pa, port, hd) if dry_deny is not None else None,
            first_match(dry_allow, m, h, pa, port, hd) if dry_allow is not None else None,
        )

    def _plan(
        self,
        principal: str | None,
        mtls: bool,
        source_ip: str | None,
        destination_ip: str | None,
        sni: str | None,
        port: int | None,
        p: str | None,
        u: str | None,
    ) -> tuple[Candidates | None, ...]:
        """The candidates of each group for one connection (cached by its facts; an
        address that is not an IP raises and caches nothing)."""
        if self._uses_ips:
            si = ri = _ip(source_ip)
            di = _ip(destination_ip)
        else:
            si = ri = di = None
        facts = (p, u, u, si, ri, di, sni or "", port)
        plan = tuple(g.candidates(facts) if g is not None else None for g in self._groups)
        if len(self._by_connection) >= 1024:
            self._by_connection.clear()
        self._by_connection[(principal, mtls, source_ip, destination_ip, sni, port)] = plan
        return plan

    def _decide(self, facts: tuple[Any, ...]) -> Decision:
        decision = self._deny(*facts) if self._deny is not None else None
        if decision is None:
            if self._allow is None:
                decision = _NO_ALLOW_POLICY
            else:
                decision = self._allow(*facts) or _NO_ALLOW_MATCH
        if not self._side:
            return decision
        return self._with_side_results(decision, facts)

    def _with_side_results(self, decision: Decision, facts: tuple[Any, ...]) -> Decision:
        return self._side_results(
            decision,
            self._audit(*facts) if self._audit is not None else None,
            self._dry_deny(*facts) if self._dry_deny is not None else None,
            self._dry_allow(*facts) if self._dry_allow is not None else None,
        )

    def _side_results(
        self,
        decision: Decision,
        audit: Decision | None,
        dry_deny: Decision | None,
        dry_allow: Decision | None,
    ) -> Decision:
        dry_hit = dry_deny or dry_allow
        dry_allowed = None
        if self._dry_deny is not None or self._dry_allow is not None:
            # The decision if the dry-run policies were enforced along with the others.
            if dry_deny is not None or (decision.action == "DENY" and decision.policy):
                dry_allowed = False
            elif self._allow is not None or self._dry_allow is not None:
                dry_allowed = bool(decision.policy) or dry_allow is not None
            else:
                dry_allowed = True
        return replace(
            decision,
            dry_run_policy=dry_hit.policy if dry_hit is not None else None,
            dry_run_allowed=dry_allowed,
            audit_policy=audit.policy if audit is not None else None,
        )


class Authorizer:
    """Every AuthorizationPolicy in ``resources`` compiled once (other kinds are skipped).

    Raises :class:`~inmesh.ConfigError` naming every unsupported field of every policy.
    A later policy with the same namespace/name replaces an earlier one, as an apply does.
    """

    def __init__(self, resources: Iterable[Any], *, root_namespace: str = ROOT_NAMESPACE) -> None:
        self.root_namespace = root_namespace
        emitter = Emitter()
        problems: list[ConfigProblem] = []
        compiled: dict[tuple[str, str], CompiledPolicy] = {}
        for resource in resources:
            if getattr(resource, "kind", None) != "AuthorizationPolicy":
                continue
            policy = compile_policy(resource, emitter, problems)
            if policy is not None:
                compiled.pop((policy.namespace, policy.name), None)
                compiled[(policy.namespace, policy.name)] = policy
        if problems:
            raise ConfigError(problems)
        self._policies = tuple(compiled.values())
        self._consts = emitter.consts
        self._header_names = frozenset(emitter.header_names)
        self._cache: dict[tuple[str, frozenset[tuple[str, str]]], WorkloadAuthorizer] = {}

    @property
    def policies(self) -> tuple[str, ...]:
        return tuple(p.key for p in self._policies)

    def for_workload(
        self, *, namespace: str, labels: Mapping[str, str] | None = None
    ) -> WorkloadAuthorizer:
        """The evaluator for a workload (cached): root-namespace policies first, then the
        workload namespace's, each in the order given."""
        labels = dict(labels or {})
        key = (namespace, frozenset(labels.items()))
        found = self._cache.get(key)
        if found is None:
            root = self.root_namespace
            applicable = [p for p in self._policies if p.applies_to(namespace, labels, root)]
            applicable.sort(key=lambda p: p.namespace != root)
            found = WorkloadAuthorizer(applicable, self._consts, self._header_names)
            self._cache[key] = found
        return found


def check(
    resources: Iterable[Any],
    *,
    namespace: str,
    labels: Mapping[str, str] | None = None,
    request: AuthzRequest,
    root_namespace: str = ROOT_NAMESPACE,
) -> Decision:
    """Would Istio let ``request`` into the workload (``namespace``, ``labels``) under the
    AuthorizationPolicies in ``resources``? Like ``istioctl x authz check``, without sockets.

    Raises :class:`~inmesh.ConfigError` for a policy that uses what is not supported yet.
    """
    authorizer = Authorizer(resources, root_namespace=root_namespace)
    return authorizer.for_workload(namespace=namespace, labels=labels).check(request)
