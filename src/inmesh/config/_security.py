"""PeerAuthentication and AuthorizationPolicy (security.istio.io), validated as Istio does.

Enforcement belongs to the security layer (inbound ASGI middleware, upstream TLS); these
models only guarantee that what reaches it is well-formed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field, model_validator
from typing_extensions import Self

from inmesh.config._authz_values import (
    check_condition,
    check_ips,
    check_paths,
    check_ports,
    check_service_accounts,
    check_trust_domains,
    check_values,
)
from inmesh.config._base import IstioModel, IstioResource, Str, Violations
from inmesh.config._common import PolicyTargetReference, WorkloadSelector

__all__ = [
    "AuthorizationPolicy",
    "AuthorizationPolicySpec",
    "Condition",
    "ExtensionProvider",
    "Operation",
    "PeerAuthentication",
    "PeerAuthenticationMutualTLS",
    "PeerAuthenticationSpec",
    "Rule",
    "RuleFrom",
    "RuleTo",
    "Source",
]

SecurityVersion = Literal["security.istio.io/v1", "security.istio.io/v1beta1"]
MTLSMode = Literal["UNSET", "DISABLE", "PERMISSIVE", "STRICT"]
PortNumber = Annotated[int, Field(ge=1, le=65535)]


class PeerAuthenticationMutualTLS(IstioModel):
    """Whether inbound connections must (STRICT), may (PERMISSIVE) or must not use mTLS."""

    mode: MTLSMode | None = None


class PeerAuthenticationSpec(IstioModel):
    """Inbound mTLS mode for the selected workloads, optionally per port."""

    selector: WorkloadSelector | None = None
    mtls: PeerAuthenticationMutualTLS | None = None
    port_level_mtls: Mapping[PortNumber, PeerAuthenticationMutualTLS] | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go ValidatePeerAuthentication.
        problems = Violations()
        if self.port_level_mtls is not None:
            if self.selector is None or not self.selector.match_labels:
                problems.add(
                    "mesh/namespace peer authentication cannot have port level mTLS",
                    "portLevelMtls",
                )
            if not self.port_level_mtls:
                problems.add(
                    "port level mTLS, if defined, must have at least one element", "portLevelMtls"
                )
        problems.raise_if_any()
        return self


class Source(IstioModel):
    """Who sent the request (peer identity, namespace, IPs, request principal)."""

    principals: tuple[Str, ...] = ()
    not_principals: tuple[Str, ...] = ()
    request_principals: tuple[Str, ...] = ()
    not_request_principals: tuple[Str, ...] = ()
    namespaces: tuple[Str, ...] = ()
    not_namespaces: tuple[Str, ...] = ()
    ip_blocks: tuple[Str, ...] = ()
    not_ip_blocks: tuple[Str, ...] = ()
    remote_ip_blocks: tuple[Str, ...] = ()
    not_remote_ip_blocks: tuple[Str, ...] = ()
    service_accounts: Annotated[tuple[Str, ...], Field(max_length=16)] = ()
    not_service_accounts: Annotated[tuple[Str, ...], Field(max_length=16)] = ()
    trust_domains: tuple[Str, ...] = ()
    not_trust_domains: tuple[Str, ...] = ()


class Operation(IstioModel):
    """What the request does (host, port, method, path)."""

    hosts: tuple[Str, ...] = ()
    not_hosts: tuple[Str, ...] = ()
    ports: tuple[Str, ...] = ()
    not_ports: tuple[Str, ...] = ()
    methods: tuple[Str, ...] = ()
    not_methods: tuple[Str, ...] = ()
    paths: tuple[Str, ...] = ()
    not_paths: tuple[Str, ...] = ()


class Condition(IstioModel):
    """An extra condition on an Istio attribute (``request.headers[x]``, ``source.ip``...)."""

    key: Str
    values: tuple[Str, ...] = ()
    not_values: tuple[Str, ...] = ()


class RuleFrom(IstioModel):
    source: Source | None = None


class RuleTo(IstioModel):
    operation: Operation | None = None


class Rule(IstioModel):
    """Matches a request when all of ``from``, ``to`` and ``when`` match (each list ORed)."""

    from_: tuple[RuleFrom, ...] | None = Field(default=None, alias="from")
    to: tuple[RuleTo, ...] | None = None
    when: tuple[Condition, ...] = ()


class ExtensionProvider(IstioModel):
    """The external authorizer of a CUSTOM policy, by its mesh-config name."""

    name: Str | None = None


_CUSTOM_UNSUPPORTED_SOURCES = (
    ("namespaces", "namespaces"),
    ("not_namespaces", "notNamespaces"),
    ("service_accounts", "serviceAccounts"),
    ("not_service_accounts", "notServiceAccounts"),
    ("trust_domains", "trustDomains"),
    ("not_trust_domains", "notTrustDomains"),
    ("principals", "principals"),
    ("not_principals", "notPrincipals"),
    ("request_principals", "requestPrincipals"),
    ("not_request_principals", "notRequestPrincipals"),
)


_CUSTOM_UNSUPPORTED_KEYS = (
    "source.namespace",
    "source.serviceAccount",
    "source.trustDomain",
    "source.principal",
)


class AuthorizationPolicySpec(IstioModel):
    """ALLOW/DENY/AUDIT/CUSTOM requests to the selected workloads that match ``rules``."""

    selector: WorkloadSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: Annotated[tuple[PolicyTargetReference, ...], Field(max_length=16)] = ()
    rules: Annotated[tuple[Rule, ...], Field(max_length=512)] | None = None
    action: Literal["ALLOW", "DENY", "AUDIT", "CUSTOM"] | None = None
    provider: ExtensionProvider | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go ValidateAuthorizationPolicy.
        problems = Violations()
        if (
            sum(
                x is not None and x != ()
                for x in (self.selector, self.target_ref, self.target_refs)
            )
            > 1
        ):
            problems.add("only one of targetRefs or workloadSelector can be set")
        action = self.action or "ALLOW"
        if action == "CUSTOM":
            if self.rules is None:
                problems.add(
                    "CUSTOM action without rules is meaningless as it will never be "
                    "triggered, add an empty rule {} to trigger it for every request",
                    "rules",
                )
            elif self.provider is None or not self.provider.name:
                problems.add("provider.name must not be empty", "provider")
            self._check_custom(problems)
        elif self.provider is not None:
            problems.add(f"provider must not be with non CUSTOM action, found {action}", "provider")
        if action == "DENY" and self.rules is None:
            problems.add(
                "DENY action without rules is meaningless as it will never be "
                "triggered, add an empty rule {} to trigger it for every request",
                "rules",
            )
        for i, rule in enumerate(self.rules or ()):
            self._check_rule(rule, problems, "rules", i)
        problems.raise_if_any()
        return self

    def _check_custom(self, problems: Violations) -> None:
        for i, rule in enumerate(self.rules or ()):
            for j, rule_from in enumerate(rule.from_ or ()):
                src = rule_from.source
                for field, alias in _CUSTOM_UNSUPPORTED_SOURCES:
                    if src is not None and getattr(src, field):
                        problems.add(
                            f"{alias} is currently not supported with CUSTOM action",
                            "rules",
                            i,
                            "from",
                            j,
                            "source",
                            alias,
                        )
            for j, cond in enumerate(rule.when):
                if cond.key in _CUSTOM_UNSUPPORTED_KEYS or cond.key.startswith("request.auth."):
                    problems.add(
                        f"{cond.key} is currently not supported with CUSTOM action",
                        "rules",
                        i,
                        "when",
                        j,
                        "key",
                    )

    @staticmethod
    def _check_rule(rule: Rule, problems: Violations, *loc: str | int) -> None:
        if rule.from_ is not None and not rule.from_:
            problems.add("from must not be empty", *loc, "from")
        for j, rule_from in enumerate(rule.from_ or ()):
            src = rule_from.source
            if src is None:
                problems.add("from.source must not be nil", *loc, "from", j)
                continue
            where = (*loc, "from", j, "source")
            if not any(getattr(src, f) for f in Source.model_fields):
                problems.add("from.source must not be empty", *where)
            for field, info in Source.model_fields.items():
                check_values(getattr(src, field), problems, *where, info.alias or field)
            for field in ("ip_blocks", "not_ip_blocks", "remote_ip_blocks", "not_remote_ip_blocks"):
                alias = Source.model_fields[field].alias or field
                check_ips(getattr(src, field), problems, *where, alias)
            if (src.principals or src.not_principals or src.namespaces or src.not_namespaces) and (
                src.service_accounts or src.not_service_accounts
            ):
                problems.add("cannot set serviceAccounts with namespaces or principals", *where)
            check_service_accounts(src.service_accounts, problems, *where, "serviceAccounts")
            check_service_accounts(src.not_service_accounts, problems, *where, "notServiceAccounts")
            check_trust_domains(src.trust_domains, problems, *where, "trustDomains")
            check_trust_domains(src.not_trust_domains, problems, *where, "notTrustDomains")
        if rule.to is not None and not rule.to:
            problems.add("to must not be empty", *loc, "to")
        for j, rule_to in enumerate(rule.to or ()):
            op = rule_to.operation
            if op is None:
                problems.add("to.operation must not be nil", *loc, "to", j)
                continue
            where = (*loc, "to", j, "operation")
            if not any(getattr(op, f) for f in Operation.model_fields):
                problems.add("to.operation must not be empty", *where)
            for field, info in Operation.model_fields.items():
                check_values(getattr(op, field), problems, *where, info.alias or field)
            check_ports(op.ports, problems, *where, "ports")
            check_ports(op.not_ports, problems, *where, "notPorts")
            check_paths(op.paths, problems, *where, "paths")
            check_paths(op.not_paths, problems, *where, "notPaths")
        for j, cond in enumerate(rule.when):
            check_condition(cond, problems, *loc, "when", j)


class PeerAuthentication(IstioResource):
    """``security.istio.io`` PeerAuthentication: which inbound traffic must use mTLS."""

    api_version: SecurityVersion = Field(default="security.istio.io/v1", alias="apiVersion")
    kind: Literal["PeerAuthentication"] = "PeerAuthentication"
    spec: PeerAuthenticationSpec = Field(default_factory=PeerAuthenticationSpec)


class AuthorizationPolicy(IstioResource):
    """``security.istio.io`` AuthorizationPolicy: access control for inbound requests."""

    api_version: SecurityVersion = Field(default="security.istio.io/v1", alias="apiVersion")
    kind: Literal["AuthorizationPolicy"] = "AuthorizationPolicy"
    spec: AuthorizationPolicySpec = Field(default_factory=AuthorizationPolicySpec)
