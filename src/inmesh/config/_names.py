"""Checks on names, hosts, labels, ports and headers, as Istio's ``validation.go`` does them.

Each check returns an error message, or ``None`` when the value is valid, so a model
validator can collect every problem of a resource instead of stopping at the first.

The checks of names, hosts and labels are pure functions of their arguments and answer
from a bounded cache (:data:`CACHED` entries each): a mesh repeats its hosts, namespaces,
subset names and labels in every resource that names them (a 5,000-service mesh checks
45,000 hosts and 75,000 label sets, a fraction of them distinct).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ParamSpec, TypeVar

__all__ = [
    "PROTOCOLS",
    "check_dns1123_label",
    "check_export_to",
    "check_fqdn",
    "check_gateway_name",
    "check_header_name",
    "check_header_value",
    "check_ip_or_subnet",
    "check_labels",
    "check_namespace",
    "check_object_name",
    "check_port",
    "check_protocol",
    "check_wildcard_domain",
    "is_ip",
]

# istio/pkg/config/labels: DNS-1123 labels (case-insensitive, as host names are).
_DNS1123_LABEL = r"[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?"
_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL)
_WILDCARD_LABEL_RE = re.compile(r"\*|(?:\*|\*-)?" + _DNS1123_LABEL)
_QUALIFIED_NAME_RE = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?")
_DNS_PREFIX_RE = re.compile(_DNS1123_LABEL + r"(?:\." + _DNS1123_LABEL + r")*")
# Kubernetes object names and namespaces are lower-case DNS-1123.
_K8S_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_K8S_SUBDOMAIN_RE = re.compile(_K8S_LABEL + r"(?:\." + _K8S_LABEL + r")*")
_K8S_LABEL_RE = re.compile(_K8S_LABEL)
_LABEL_RULE = "(alphanumerics, '-', '_' and '.', at most 63 characters)"
_HEADER_NAME_RE = re.compile(r"[-_A-Za-z0-9]+")  # validation.go validHeaderRegex
_HEADER_VALUE_BAD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

#: Entries each cached check keeps (its cache is emptied when it is full).
CACHED = 8192
_P = ParamSpec("_P")
_R = TypeVar("_R")
#: each cached check's cache (for tests)
_CACHES: list[dict[Any, Any]] = []


#: the longest string a remembered key holds, in characters: a DNS subdomain is at most
#: 253, a label key 253 + 1 + 63 (its prefix, ``/``, its name); checks with a longer
#: argument (a request's, or a document's) are answered but not kept, so the cache's size
#: stays bounded (each check takes a fixed number of arguments)
_LONGEST_KEPT = 320


def _longest(value: Any) -> int:
    """The length of the longest string ``value`` holds (a key of :func:`_cached`)."""
    if type(value) is str:
        return len(value)
    if type(value) is tuple:
        return max((_longest(v) for v in value), default=0)
    return 0


def _own(value: Any) -> Any:
    """``value`` with its strings copied (see :func:`_cached`)."""
    if type(value) is str:
        return "".join(("", value))
    if type(value) is tuple:
        return tuple(_own(v) for v in value)
    return value


def _cached(check: Callable[_P, _R]) -> Callable[_P, _R]:
    """``check`` answering from a bounded cache keyed by its (positional) arguments.

    A key is stored as a copy: the caller's strings belong to parsed documents, and a
    cache holding them would keep the allocator's memory of those documents from being
    returned once they are dropped (24 MB of RSS at 5,000 services with
    ``functools.lru_cache``)."""
    cache: dict[Any, _R] = {}
    _CACHES.append(cache)

    @functools.wraps(check)
    def cached(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if kwargs:
            return check(*args, **kwargs)
        key = args if len(args) > 1 else args[0]
        try:
            return cache[key]
        except KeyError:
            pass
        result = check(*args, **kwargs)
        if _longest(key) <= _LONGEST_KEPT:  # no valid name is longer; a long one is not kept
            if len(cache) >= CACHED:
                cache.clear()
            cache[_own(key)] = result
        return result

    return cached


#: Protocol names istio/pkg/config/protocol.Parse accepts (case-insensitive).
PROTOCOLS = frozenset(
    {
        "TCP",
        "UDP",
        "GRPC",
        "GRPC-WEB",
        "HTTP",
        "HTTP_PROXY",
        "HTTP2",
        "HTTPS",
        "TLS",
        "MONGO",
        "REDIS",
        "MYSQL",
    }
)


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


@_cached
def check_dns1123_label(value: str, what: str = "name") -> str | None:
    """Istio's ``labels.IsDNS1123Label`` (subset names, port names, gateway names)."""
    if len(value) > 63 or not _DNS1123_LABEL_RE.fullmatch(value):
        return (
            f"{what} {value!r} is not a valid DNS-1123 label (letters, digits and '-', at most 63)"
        )
    return None


@_cached
def check_object_name(value: str) -> str | None:
    """Kubernetes object names are lower-case DNS-1123 subdomains of at most 253 characters."""
    if not value:
        return "name must not be empty"
    if len(value) > 253 or not _K8S_SUBDOMAIN_RE.fullmatch(value):
        return (
            f"name {value!r} is not a valid DNS-1123 subdomain (lower-case letters, digits,"
            " '-' and '.', at most 253 characters)"
        )
    return None


@_cached
def check_namespace(value: str) -> str | None:
    if len(value) > 63 or not _K8S_LABEL_RE.fullmatch(value):
        return f"namespace {value!r} is not a valid DNS-1123 label (lower-case, at most 63)"
    return None


def _check_dns_labels(domain: str) -> str | None:
    parts = domain.split(".")
    if parts[-1].isdigit():
        return (
            f"domain name {domain!r} invalid (top level domain {parts[-1]!r} cannot be all-numeric)"
        )
    for index, label in enumerate(parts):
        if index == len(parts) - 1 and label == "":
            return None  # a trailing dot is allowed
        if len(label) > 63 or not _DNS1123_LABEL_RE.fullmatch(label):
            return f"domain name {domain!r} invalid (label {label!r} invalid)"
    return None


def _check_domain_preconditions(domain: str) -> str | None:
    if len(domain) > 255:
        return f"domain name {domain!r} too long (max 255)"
    if not domain:
        return "empty domain name not allowed"
    return None


@_cached
def check_fqdn(domain: str) -> str | None:
    """agent.ValidateFQDN: a host name without wildcards."""
    return _check_domain_preconditions(domain) or _check_dns_labels(domain)


@_cached
def check_wildcard_domain(domain: str) -> str | None:
    """agent.ValidateWildcardDomain: a host name whose first label may be a wildcard."""
    problem = _check_domain_preconditions(domain)
    if problem:
        return problem
    first, _, rest = domain.partition(".")
    if len(first) > 63 or not _WILDCARD_LABEL_RE.fullmatch(first):
        return f"domain name {domain!r} invalid (label {first!r} invalid)"
    return _check_dns_labels(rest) if rest else None


def check_ip_or_subnet(value: str) -> str | None:
    """agent.ValidateIPSubnet: an IP address or a CIDR block."""
    try:
        if "/" in value:
            ipaddress.ip_network(value, strict=False)
        else:
            ipaddress.ip_address(value)
    except ValueError:
        return f"{value!r} is not a valid IP address or CIDR block"
    return None


def check_port(port: int, what: str = "port number") -> str | None:
    if not 1 <= port <= 65535:
        return f"{what} {port} must be between 1 and 65535"
    return None


def check_protocol(protocol: str) -> str | None:
    if protocol and protocol.upper() not in PROTOCOLS:
        return f"unsupported protocol {protocol!r}; expected one of {', '.join(sorted(PROTOCOLS))}"
    return None


def check_labels(labels: Mapping[str, str]) -> list[tuple[str, str]]:
    """labels.Instance.Validate: Kubernetes label keys and values; returns (key, message)."""
    problems: list[tuple[str, str]] = []
    for key, value in labels.items():
        found = _label_problems(key, value)
        if found:
            problems.extend((key, message) for message in found)
    return problems


@_cached
def _label_problems(key: str, value: str) -> tuple[str, ...]:
    """What is wrong with one label (key prefix, key name, value), in that order."""
    problems: list[str] = []
    prefix, slash, name = key.rpartition("/")
    if slash and (len(prefix) > 253 or not _DNS_PREFIX_RE.fullmatch(prefix)):
        problems.append(f"invalid label key prefix {prefix!r} (must be a DNS subdomain)")
    if len(name) > 63 or not _QUALIFIED_NAME_RE.fullmatch(name):
        problems.append(f"invalid label key {key!r} {_LABEL_RULE}")
    if value and (len(value) > 63 or not _QUALIFIED_NAME_RE.fullmatch(value)):
        problems.append(f"invalid label value {value!r} {_LABEL_RULE}")
    return tuple(problems)


def check_header_name(name: str) -> str | None:
    if not name:
        return "header name cannot be empty"
    if not _HEADER_NAME_RE.fullmatch(name):
        return f"header name {name!r} is not a valid header name (letters, digits, '-' and '_')"
    return None


def check_header_value(value: str) -> str | None:
    """ValidateHTTPHeaderValue: no control characters, Envoy's %VARIABLE% syntax balanced."""
    if _HEADER_VALUE_BAD.search(value):
        return f"header value {value!r} contains control characters"
    index = 0
    while index < len(value):
        if value[index] != "%":
            index += 1
            continue
        if value.startswith("%%", index):
            index += 2
            continue
        close = value.find("%", index + 1)
        if close == -1 or close == index + 1:
            return (
                f"header value {value!r} has an unterminated or empty %VARIABLE%; "
                "write %% for a literal percent sign"
            )
        index = close + 1
    return None


def check_gateway_name(name: str) -> str | None:
    """validateGatewayNames: ``mesh``, ``name`` or ``namespace/name``."""
    namespace, slash, gateway = name.partition("/")
    if not slash:
        return check_fqdn(name)
    if not namespace or not gateway:
        return "config namespace and gateway name cannot be empty"
    return check_dns1123_label(namespace, "gateway namespace") or check_dns1123_label(
        gateway, "gateway name"
    )


def check_export_to(values: Iterable[str], *, allow_none: bool) -> list[tuple[int, str]]:
    """validateExportTo: ``.``, ``*``, (``~`` for ServiceEntry) or namespace names, no repeats."""
    problems: list[tuple[int, str]] = []
    seen: set[str] = set()
    items = list(values)
    for index, value in enumerate(items):
        if value in seen:
            problems.append((index, f"duplicate entries in exportTo for entry {value!r}"))
        seen.add(value)
        if value in (".", "*") or (value == "~" and allow_none):
            continue
        if check_namespace(value):
            problems.append(
                (
                    index,
                    f"invalid exportTo value {value!r}: expected '.', '*'"
                    + (", '~'" if allow_none else "")
                    + " or a namespace name",
                )
            )
    if "*" in seen and len(items) > 1:
        problems.append((0, "cannot have both public (*) and non-public exportTo values"))
    if "~" in seen and len(items) > 1:
        problems.append((0, "cannot export service entry to no one (~) and someone"))
    return problems
