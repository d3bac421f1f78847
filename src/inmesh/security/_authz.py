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
from typing import Any

from .._errors import ConfigError, ConfigProblem
from ._authz_compile import Emitter
from ._authz_path import normalize_path
from ._authz_policy import ROOT_NAMESPACE, CompiledPolicy, compile_policy
from ._authz_request import AuthzRequest, Decision

__all__ = ["Authorizer", "WorkloadAuthorizer", "check"]

_ARGS = "p, u, ns, m, h, pa, po, hd, si, ri, di, sn"
_Match = Callable[..., "tuple[int, int] | None"]


def _ip(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"not an IP address: {text!r}") from None


class WorkloadAuthorizer:
    """The policies that apply to one workload, compiled; :meth:`check` per request."""

    def __init__(self, policies: Iterable[CompiledPolicy], consts: Mapping[str, Any]) -> None:
        chosen = list(policies)
        self.policies: tuple[str, ...] = tuple(p.key for p in chosen)

        def group(action: str, dry_run: bool) -> list[CompiledPolicy]:
            return [p for p in chosen if p.action == action and p.dry_run == dry_run]

        self._deny = group("DENY", False)
        self._allow = group("ALLOW", False)
        self._audit = [p for p in chosen if p.action == "AUDIT"]
        self._dry_deny = group("DENY", True)
        self._dry_allow = group("ALLOW", True)
        uses: set[str] = set()
        for p in chosen:
            uses |= p.uses
        self._uses_path = "pa" in uses
        self._uses_headers = "hd" in uses
        self._uses_ips = bool(uses & {"si", "ri", "di"})
        sources: list[str] = []
        namespace: dict[str, Any] = dict(consts)
        self._match_deny = self._build("deny", self._deny, namespace, sources)
        self._match_allow = self._build("allow", self._allow, namespace, sources)
        self._match_audit = self._build("audit", self._audit, namespace, sources)
        self._match_dry_deny = self._build("dry_deny", self._dry_deny, namespace, sources)
        self._match_dry_allow = self._build("dry_allow", self._dry_allow, namespace, sources)
        #: The generated matching functions, for reading and debugging.
        self.source = "\n".join(sources)

    @staticmethod
    def _build(
        label: str, policies: list[CompiledPolicy], namespace: dict[str, Any], sources: list[str]
    ) -> _Match | None:
        if not policies:
            return None
        lines = [f"def _match_{label}({_ARGS}):"]
        for pi, policy in enumerate(policies):
            lines.append(f"    # {policy.action} {policy.key}")
            for ri, expr in enumerate(policy.rules):
                lines.append(f"    if {expr}:")
                lines.append(f"        return {pi}, {ri}")
        lines.append("    return None")
        code = "\n".join(lines)
        sources.append(code)
        exec(compile(code, f"<authz {label}>", "exec"), namespace)
        fn: _Match = namespace[f"_match_{label}"]
        return fn

    def _facts(self, r: AuthzRequest) -> tuple[Any, ...] | None:
        principal = r.source_principal
        p: str | None = None
        u: str | None = None
        ns: str | None = None
        if r.is_mtls:
            p = principal if principal is not None else ""
            u = "spiffe://" + principal if principal else None
            ns = (
                u
                if u is not None
                else (f"/ns/{r.source_namespace}/" if r.source_namespace is not None else None)
            )
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
            return Decision(
                False, None, "DENY", "the path holds %00: rejected before authorization (400)"
            )
        decision = self._decide(facts, self._match_deny, self._deny, self._match_allow, self._allow)
        audit = self._match_audit(*facts) if self._match_audit is not None else None
        dry_deny = self._match_dry_deny(*facts) if self._match_dry_deny is not None else None
        dry_allow = self._match_dry_allow(*facts) if self._match_dry_allow is not None else None
        if audit is None and self._match_dry_deny is None and self._match_dry_allow is None:
            return decision
        dry_policy = None
        if dry_deny is not None:
            dry_policy = self._dry_deny[dry_deny[0]].key
        elif dry_allow is not None:
            dry_policy = self._dry_allow[dry_allow[0]].key
        dry_allowed = None
        if self._match_dry_deny is not None or self._match_dry_allow is not None:
            # The decision if the dry-run policies were enforced along with the others.
            enforced_deny = not decision.allowed and decision.policy is not None
            enforced_allow = decision.allowed and decision.policy is not None
            if enforced_deny or dry_deny is not None:
                dry_allowed = False
            elif self._allow or self._dry_allow:
                dry_allowed = enforced_allow or dry_allow is not None
            else:
                dry_allowed = True
        return Decision(
            decision.allowed,
            decision.policy,
            decision.action,
            decision.reason,
            decision.rule,
            dry_run_policy=dry_policy,
            dry_run_allowed=dry_allowed,
            audit_policy=None if audit is None else self._audit[audit[0]].key,
        )

    @staticmethod
    def _decide(
        facts: tuple[Any, ...],
        match_deny: _Match | None,
        deny: list[CompiledPolicy],
        match_allow: _Match | None,
        allow: list[CompiledPolicy],
    ) -> Decision:
        if match_deny is not None:
            hit = match_deny(*facts)
            if hit is not None:
                key = deny[hit[0]].key
                return Decision(False, key, "DENY", f"DENY policy {key} matched", hit[1])
        if match_allow is None:
            return Decision(True, None, "ALLOW", "no ALLOW policy applies to the workload")
        hit = match_allow(*facts)
        if hit is not None:
            key = allow[hit[0]].key
            return Decision(True, key, "ALLOW", f"ALLOW policy {key} matched", hit[1])
        return Decision(False, None, "DENY", "no ALLOW policy matched")


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
            found = WorkloadAuthorizer(applicable, self._consts)
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
