"""Value checks of AuthorizationPolicy fields, as Istio's ``pkg/config/security`` makes
them (``CheckServiceAccount``, ``CheckTrustDomainValues``, ``CheckValidPathTemplate``,
``ValidateAttribute``...): each adds a located problem to a :class:`Violations`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from inmesh.config._base import Violations
from inmesh.config._names import check_ip_or_subnet

if TYPE_CHECKING:
    from inmesh.config._security import Condition


def check_values(values: tuple[str, ...], problems: Violations, *loc: str | int) -> None:
    for i, value in enumerate(values):
        if value == "":
            problems.add("empty value is not allowed", *loc, i)


def check_ips(values: tuple[str, ...], problems: Violations, *loc: str | int) -> None:
    for i, value in enumerate(values):
        problems.add(check_ip_or_subnet(value), *loc, i)


def check_ports(values: tuple[str, ...], problems: Violations, *loc: str | int) -> None:
    for i, value in enumerate(values):
        if not value.isdigit() or int(value) > 65535:
            problems.add(f"invalid port: {value!r}", *loc, i)


# security.go validLiteral: RFC 3986 pchar (unreserved / pct-encoded / sub-delims / ":" / "@").
_VALID_LITERAL = re.compile(r"[a-zA-Z0-9\-._~%!$&'()+,;:@=]+")


def check_paths(values: tuple[str, ...], problems: Violations, *loc: str | int) -> None:
    # security.CheckValidPathTemplate: {*} and {**} are whole segments; after {**} no other
    # template operator may follow; in a templated path every literal segment is pchar.
    for i, path in enumerate(values):
        templated = "{*}" in path or "{**}" in path
        if not templated and "{" not in path and "}" not in path:
            continue
        found_any = False
        for segment in path.strip("/").split("/"):
            if segment == "{*}" and not found_any:
                continue
            if segment == "{**}" and not found_any:
                found_any = True
                continue
            if segment in ("{*}", "{**}"):
                problems.add(
                    f"invalid or unsupported path {path!r}: {{**}} is not the last operator",
                    *loc,
                    i,
                )
                break
            if "{" in segment or "}" in segment:
                problems.add(
                    f"invalid or unsupported path {path!r}: contains '{{' or '}}' beyond a "
                    "supported path template",
                    *loc,
                    i,
                )
                break
            if templated and not _VALID_LITERAL.fullmatch(segment):
                problems.add(
                    f"invalid or unsupported path {path!r}: contains segment {segment!r} "
                    "with invalid string literal",
                    *loc,
                    i,
                )
                break


def check_service_accounts(values: tuple[str, ...], problems: Violations, *loc: str | int) -> None:
    # security.CheckServiceAccount: "sa" or "ns/sa", no wildcard, at most 320 characters.
    expected = "expected format 'serviceAccount' or 'namespace/serviceAccount'"
    for i, value in enumerate(values):
        if value == "":
            continue  # reported as an empty value
        if "*" in value:
            problems.add(f"wildcard not allowed: {value!r}", *loc, i)
        elif value.count("/") > 1:
            problems.add(f"{expected}, found {value!r}", *loc, i)
        elif len(value) > 320:
            problems.add(f"value cannot exceed 320 characters, found {value!r}", *loc, i)
        elif "/" in value:
            ns, _, sa = value.partition("/")
            if not ns:
                problems.add(f"{expected}, found empty namespace {value!r}", *loc, i)
            elif not sa:
                problems.add(f"{expected}, found empty serviceAccount {value!r}", *loc, i)


def check_wildcards(values: tuple[str, ...], problems: Violations, *loc: str | int) -> bool:
    # security.CheckWildcardValues: exact, prefix "foo*", suffix "*foo" or presence "*".
    ok = True
    for i, value in enumerate(values):
        count = value.count("*")
        if count > 1:
            problems.add(f"at most one wildcard is allowed, found {value!r}", *loc, i)
            ok = False
        elif count == 1 and not value.startswith("*") and not value.endswith("*"):
            problems.add(f"wildcard is only allowed at the start or end, found {value!r}", *loc, i)
            ok = False
    return ok


def check_trust_domains(values: tuple[str, ...], problems: Violations, *loc: str | int) -> None:
    # security.CheckTrustDomainValues: wildcard values without '/'.
    if not check_wildcards(values, problems, *loc):
        return
    for i, value in enumerate(values):
        if "/" in value:
            problems.add(f"trust domain must not contain '/', found {value!r}", *loc, i)


def check_map_key(key: str, problems: Violations, *loc: str | int) -> None:
    # security.validateMapKey: "a[b]": a '[' after the first character, a ']' at the end and
    # something between (so request.auth.claims[a][b], a nested claim, is valid).
    open_at = key.find("[")
    if not (key.endswith("]") and 0 < open_at < len(key) - 2):
        problems.add(f"bad key {key!r}: should have format a[b]", *loc, "key")


def check_condition(cond: Condition, problems: Violations, *loc: str | int) -> None:
    # security.ValidateAttribute.
    key = cond.key
    if not key:
        problems.add("key must not be empty", *loc, "key")
        return
    if not cond.values and not cond.not_values:
        problems.add(f"at least one of values or notValues must be set for key {key}", *loc)
    check_values(cond.values, problems, *loc, "values")
    check_values(cond.not_values, problems, *loc, "notValues")
    checks = {
        "source.ip": check_ips,
        "remote.ip": check_ips,
        "destination.ip": check_ips,
        "destination.port": check_ports,
        "source.serviceAccount": check_service_accounts,
        "source.trustDomain": check_wildcards,
    }
    if key.startswith(("request.headers", "request.auth.claims", "experimental.envoy.filters.")):
        check_map_key(key, problems, *loc)
    elif key in checks:
        check = checks[key]
        check(cond.values, problems, *loc, "values")
        check(cond.not_values, problems, *loc, "notValues")
    elif key == "destination.namespace":
        problems.add(f"attribute {key} is replaced by the metadata.namespace", *loc, "key")
    elif key.startswith("destination.labels"):
        problems.add(f"attribute {key} is replaced by the workload selector", *loc, "key")
    elif key in ("destination.name", "destination.user"):
        problems.add(f"deprecated attribute {key}: only supported in v1alpha1", *loc, "key")
    elif key not in (
        "source.namespace",
        "source.principal",
        "request.auth.principal",
        "request.auth.audiences",
        "request.auth.presenter",
        "connection.sni",
    ):
        problems.add(f"unknown attribute: {key}", *loc, "key")
