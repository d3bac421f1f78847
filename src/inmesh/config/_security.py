"""PeerAuthentication and AuthorizationPolicy (security.istio.io), validated as Istio does.

Enforcement belongs to the security layer (inbound ASGI middleware, upstream TLS); these
models only guarantee that what reaches it is well-formed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field, model_validator
from typing_extensions import Self

from inmesh.config._base import IstioModel, IstioResource, Str, Violations
from inmesh.config._common import PolicyTargetReference, WorkloadSelector
from inmesh.config._names import check_ip_or_subnet

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
_MAP_KEY = re.compile(r"[^\[\]]+\[[^\[\]]+\]")


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


def _check_values(values: tuple[str, ...], problems: Violations, *loc: str | int) -> None:
    for i, value in enumerate(values):
        if value == "":
            problems.add("empty value is not allowed", *loc, i)


def _check_ips(values: tuple[str, ...], problems: Violations, *loc: str | int) -> None:
    for i, value in enumerate(values):
        problems.add(check_ip_or_subnet(value), *loc, i)


def _check_ports(values: tuple[str, ...], problems: Violations, *loc: str | int) -> None:
    for i, value in enumerate(values):
        if not value.isdigit() or int(value) > 65535:
            problems.add(f"invalid port: {value!r}", *loc, i)


def _check_paths(values: tuple[str, ...], problems: Violations, *loc: str | int) -> None:
    # security.CheckValidPathTemplate: {*} and {**} are whole segments, {**} only last.
    for i, path in enumerate(values):
        if "{" not in path and "}" not in path:
            continue
        segments = path.split("/")
        for j, segment in enumerate(segments):
            if ("{" in segment or "}" in segment) and segment not in ("{*}", "{**}"):
                problems.add(
                    f"invalid path template {path!r}: {{*}} and {{**}} must be whole segments",
                    *loc,
                    i,
                )
                break
            if segment == "{**}" and j != len(segments) - 1:
                problems.add(
                    f"invalid path template {path!r}: {{**}} must be the last segment", *loc, i
                )
                break


def _check_condition(cond: Condition, problems: Violations, *loc: str | int) -> None:
    # security.ValidateAttribute.
    key = cond.key
    if not key:
        problems.add("key must not be empty", *loc, "key")
        return
    if not cond.values and not cond.not_values:
        problems.add(f"at least one of values or notValues must be set for key {key}", *loc)
    if key.startswith(("request.headers", "request.auth.claims", "experimental.envoy.filters.")):
        if not _MAP_KEY.fullmatch(key):
            problems.add(f"invalid key {key!r}: expected the form name[field]", *loc, "key")
    elif key in ("source.ip", "remote.ip", "destination.ip"):
        _check_ips(cond.values, problems, *loc, "values")
        _check_ips(cond.not_values, problems, *loc, "notValues")
    elif key == "destination.port":
        _check_ports(cond.values, problems, *loc, "values")
        _check_ports(cond.not_values, problems, *loc, "notValues")
    elif key not in (
        "source.namespace",
        "source.principal",
        "request.auth.principal",
        "request.auth.audiences",
        "request.auth.presenter",
        "connection.sni",
    ):
        problems.add(f"unknown attribute: {key}", *loc, "key")


_CUSTOM_UNSUPPORTED_SOURCES = (
    ("namespaces", "namespaces"),
    ("not_namespaces", "notNamespaces"),
    ("principals", "principals"),
    ("not_principals", "notPrincipals"),
    ("request_principals", "requestPrincipals"),
    ("not_request_principals", "notRequestPrincipals"),
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
                if cond.key in ("source.namespace", "source.principal") or cond.key.startswith(
                    "request.auth."
                ):
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
                _check_values(getattr(src, field), problems, *where, info.alias or field)
            for field in ("ip_blocks", "not_ip_blocks", "remote_ip_blocks", "not_remote_ip_blocks"):
                alias = Source.model_fields[field].alias or field
                _check_ips(getattr(src, field), problems, *where, alias)
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
                _check_values(getattr(op, field), problems, *where, info.alias or field)
            _check_ports(op.ports, problems, *where, "ports")
            _check_ports(op.not_ports, problems, *where, "notPorts")
            _check_paths(op.paths, problems, *where, "paths")
            _check_paths(op.not_paths, problems, *where, "notPaths")
        for j, cond in enumerate(rule.when):
            _check_condition(cond, problems, *loc, "when", j)


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
