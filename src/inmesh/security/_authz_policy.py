"""One AuthorizationPolicy, checked for what the evaluator supports and compiled.

Refused by name, with the file, document, resource and field ("not supported yet"): the
CUSTOM action (an external authorizer), ``targetRef``/``targetRefs``,
``requestPrincipals``/``notRequestPrincipals`` and ``request.auth.*`` keys (they need
RequestAuthentication), and ``experimental.envoy.filters.*`` keys. An ``istio.io/dry-run``
annotation that is not a boolean is refused too (Istio logs it and enforces the policy).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._errors import ConfigProblem
from .._namespaces import ROOT_NAMESPACE
from ..config._base import format_loc
from ._authz_compile import Emitter, all_of, any_of, both

__all__ = ["DRY_RUN_ANNOTATION", "ROOT_NAMESPACE", "CompiledPolicy", "compile_policy"]

#: Istio's default ``meshConfig.rootNamespace``: its policies apply to every namespace.
DRY_RUN_ANNOTATION = "istio.io/dry-run"
# Go's strconv.ParseBool, which Istio uses for the annotation.
_BOOLS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}
_NOT_YET = "not supported yet"


@dataclass(frozen=True, slots=True, kw_only=True)
class CompiledPolicy:
    """A policy's scope, action and one expression per rule (see :mod:`._authz_compile`)."""

    namespace: str
    name: str
    action: str
    dry_run: bool
    selector: tuple[tuple[str, str], ...] | None
    rules: tuple[str, ...]
    uses: frozenset[str]
    #: Each rule split in two conjuncts (``None``: no condition): what the connection
    #: decides (source, IPs, ports, SNI) and what each request decides (operation,
    #: request headers); the rule matches when both hold.
    parts: tuple[tuple[str | None, str | None], ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def applies_to(self, namespace: str, labels: Mapping[str, str], root_namespace: str) -> bool:
        """Same namespace or the root namespace, and ``selector.matchLabels`` a subset of
        the workload's labels (no selector: every workload there)."""
        if self.namespace not in (namespace, root_namespace):
            return False
        return self.selector is None or all(labels.get(k) == v for k, v in self.selector)


def _per_request(key: str) -> bool:
    """A condition each request decides (its headers); every other supported key is a
    fact of the connection (peer identity, IPs, destination port, SNI)."""
    return key.startswith("request.")


class _Compiler:
    def __init__(self, resource: Any, emitter: Emitter, problems: list[ConfigProblem]) -> None:
        self.resource = resource
        self.emitter = emitter
        self.problems = problems
        self.uses: set[str] = set()

    def refuse(self, message: str, *loc: str | int) -> None:
        file, document = self.resource.origin
        self.problems.append(
            ConfigProblem(
                message,
                file=file,
                document=document,
                kind="AuthorizationPolicy",
                namespace=self.resource.namespace,
                name=self.resource.name,
                field=format_loc(loc if loc[:1] == ("metadata",) else ("spec", *loc)),
            )
        )

    def pair(
        self,
        values: Sequence[str],
        not_values: Sequence[str],
        build: Callable[[Sequence[str]], str],
        uses: str | None = None,
    ) -> str | None:
        if not values and not not_values:
            return None
        if uses:
            self.uses.add(uses)
        return both(build(values) if values else None, build(not_values) if not_values else None)

    def source(self, src: Any, *loc: str | int) -> str | None:
        e = self.emitter
        if src.request_principals or src.not_request_principals:
            field = "requestPrincipals" if src.request_principals else "notRequestPrincipals"
            self.refuse(f"{field} is {_NOT_YET} (it needs RequestAuthentication)", *loc, field)
            return None
        ns = self.resource.namespace
        return all_of(
            [
                self.pair(src.principals, src.not_principals, e.principals),
                self.pair(src.namespaces, src.not_namespaces, e.namespaces),
                self.pair(
                    src.service_accounts,
                    src.not_service_accounts,
                    lambda v: e.service_accounts(v, ns),
                ),
                self.pair(src.trust_domains, src.not_trust_domains, e.trust_domains),
                self.pair(src.ip_blocks, src.not_ip_blocks, lambda v: e.ips("si", v), "si"),
                self.pair(
                    src.remote_ip_blocks, src.not_remote_ip_blocks, lambda v: e.ips("ri", v), "ri"
                ),
            ]
        )

    def operation(self, op: Any) -> str | None:
        e = self.emitter
        return all_of(
            [
                self.pair(op.hosts, op.not_hosts, lambda v: e.header_like("h", v, lower=True)),
                self.pair(op.ports, op.not_ports, e.ports),
                self.pair(op.methods, op.not_methods, lambda v: e.header_like("m", v)),
                self.pair(op.paths, op.not_paths, e.paths, "pa"),
            ]
        )

    def condition(self, cond: Any, *loc: str | int) -> str | None:
        e = self.emitter
        key: str = cond.key
        builders: dict[str, tuple[Callable[[Sequence[str]], str], str | None]] = {
            "source.ip": (lambda v: e.ips("si", v), "si"),
            "remote.ip": (lambda v: e.ips("ri", v), "ri"),
            "destination.ip": (lambda v: e.ips("di", v), "di"),
            "destination.port": (e.ports, None),
            "source.namespace": (e.namespaces, None),
            "source.principal": (e.principals, None),
            "source.serviceAccount": (
                lambda v: e.service_accounts(v, self.resource.namespace),
                None,
            ),
            "source.trustDomain": (e.trust_domains, None),
            "connection.sni": (lambda v: e.plain("sn", v), None),
        }
        if key in builders:
            build, uses = builders[key]
            return self.pair(cond.values, cond.not_values, build, uses)
        if key.startswith("request.headers[") and key.endswith("]"):
            name = key[len("request.headers[") : -1]
            return self.pair(cond.values, cond.not_values, lambda v: e.header(name, v), "hd")
        if key.startswith("request.auth."):
            self.refuse(f"{key} is {_NOT_YET} (it needs RequestAuthentication)", *loc, "key")
        elif key.startswith("experimental.envoy.filters."):
            self.refuse(f"{key} (Envoy filter metadata) is {_NOT_YET}", *loc, "key")
        else:
            self.refuse(f"unknown attribute: {key}", *loc, "key")
        return None

    def rule(self, rule: Any, i: int) -> tuple[str, str | None, str | None]:
        """The rule's expression, and its connection and request conjuncts."""
        froms = [
            self.source(f.source, "rules", i, "from", j, "source")
            for j, f in enumerate(rule.from_ or ())
        ]
        tos = [self.operation(t.operation) for t in rule.to or ()]
        whens = [self.condition(c, "rules", i, "when", j) for j, c in enumerate(rule.when)]
        parts = [
            any_of(froms) if froms else None,
            any_of(tos) if tos else None,
            all_of(whens),
        ]
        by_request = [w for c, w in zip(rule.when, whens, strict=True) if _per_request(c.key)]
        by_connection = [
            w for c, w in zip(rule.when, whens, strict=True) if not _per_request(c.key)
        ]
        connection = all_of([any_of(froms) if froms else None, *by_connection])
        request = all_of([any_of(tos) if tos else None, *by_request])
        return all_of(parts) or "True", connection, request


def compile_policy(
    resource: Any, emitter: Emitter, problems: list[ConfigProblem]
) -> CompiledPolicy | None:
    """Compile ``resource`` (an AuthorizationPolicy); ``None`` after adding to ``problems``."""
    c = _Compiler(resource, emitter, problems)
    before = len(problems)
    spec = resource.spec
    action = spec.action or "ALLOW"
    if action == "CUSTOM":
        c.refuse(f"action CUSTOM (an external authorizer) is {_NOT_YET}", "action")
    if spec.target_ref is not None:
        c.refuse(f"targetRef is {_NOT_YET}", "targetRef")
    if spec.target_refs:
        c.refuse(f"targetRefs is {_NOT_YET}", "targetRefs")
    raw = resource.metadata.annotations.get(DRY_RUN_ANNOTATION)
    dry_run = False
    if raw is not None:
        if raw not in _BOOLS:
            c.refuse(
                f"annotation {DRY_RUN_ANNOTATION} must be true or false, got {raw!r}",
                "metadata",
                "annotations",
                DRY_RUN_ANNOTATION,
            )
        dry_run = _BOOLS.get(raw, False)
    # A policy without rules (absent or empty) matches nothing (builder.go: an explicit
    # never-matching policy); ``rules: [{}]`` has one rule matching everything.
    compiled = [c.rule(rule, i) for i, rule in enumerate(spec.rules or ())]
    if len(problems) > before:
        return None
    selector = spec.selector
    return CompiledPolicy(
        namespace=resource.namespace,
        name=resource.name,
        action=action,
        dry_run=dry_run,
        selector=None if selector is None else tuple(sorted(selector.match_labels.items())),
        rules=tuple(expr for expr, _, _ in compiled),
        uses=frozenset(c.uses),
        parts=tuple((connection, request) for _, connection, request in compiled),
    )
