"""``VirtualService.http[]``: HTTPRoute and the messages inside it (virtual_service.proto).

Rules that need the whole VirtualService (route/redirect/directResponse/delegate conflicts,
delegate restrictions) are checked in :mod:`inmesh.config._virtual_service`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Literal

from pydantic import Field, PrivateAttr, model_validator
from typing_extensions import Self

from inmesh.config._base import Bool, IstioModel, NonNegInt32, Port, Str, UInt32, Violations
from inmesh.config._common import Destination, Percent, StringMatch
from inmesh.config._duration import MsDuration
from inmesh.config._http_parts import CorsPolicy, HTTPFaultInjection, HTTPRetry
from inmesh.config._names import (
    check_dns1123_label,
    check_gateway_name,
    check_header_name,
    check_header_value,
)
from inmesh.config._regex import Re2Error, compile_re2

__all__ = [
    "Delegate",
    "HTTPBody",
    "HTTPDirectResponse",
    "HTTPMatchRequest",
    "HTTPMirrorPolicy",
    "HTTPRedirect",
    "HTTPRewrite",
    "HTTPRoute",
    "HTTPRouteDestination",
    "HeaderOperations",
    "Headers",
    "RegexRewrite",
]

JWT_CLAIM_PREFIX = "@request.auth.claims."


def _is_authority(name: str) -> bool:
    return name.lower() in (":authority", "host")


class HeaderOperations(IstioModel):
    """Header edits: ``set`` overwrites, ``add`` appends, ``remove`` deletes."""

    set: Mapping[str, Str] = Field(default_factory=dict)
    add: Mapping[str, Str] = Field(default_factory=dict)
    remove: tuple[Str, ...] = ()


class Headers(IstioModel):
    """Edits to request headers (before forwarding) and response headers (before returning)."""

    request: HeaderOperations | None = None
    response: HeaderOperations | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go validateHTTPRoute "header manipulation" rules.
        problems = Violations()
        for side, ops in (("request", self.request), ("response", self.response)):
            if ops is None:
                continue
            for op in ("set", "add"):
                for name, value in getattr(ops, op).items():
                    problems.add(_check_op_name(name, side == "request"), side, op, name)
                    problems.add(check_header_value(value), side, op, name)
            for i, name in enumerate(ops.remove):
                problems.add(_check_op_name(name, False), side, "remove", i)
        problems.raise_if_any()
        return self

    def authority_values(self) -> list[str]:
        """Values this sets for the authority (Host) header."""
        if self.request is None:
            return []
        ops = (*self.request.set.items(), *self.request.add.items())
        return [value for name, value in ops if _is_authority(name)]


def _check_op_name(name: str, authority_ok: bool) -> str | None:
    if not name:
        return "header name cannot be empty"
    if authority_ok and _is_authority(name):
        return None  # rewriting the authority is allowed once per route (checked there)
    if name.lower() == "host":
        return f"invalid header {name!r}: cannot set Host header"
    if name.startswith(":"):
        return f"invalid header {name!r}: header cannot have ':' prefix"
    return None


class HTTPMatchRequest(IstioModel):
    """Conditions on a request; all set conditions must hold (blocks in a list are ORed)."""

    name: Str | None = None
    uri: StringMatch | None = None
    scheme: StringMatch | None = None
    method: StringMatch | None = None
    authority: StringMatch | None = None
    headers: Mapping[str, StringMatch] = Field(default_factory=dict)
    port: Port | None = None
    source_labels: Mapping[str, Str] = Field(default_factory=dict)
    gateways: tuple[Str, ...] = ()
    query_params: Mapping[str, StringMatch] = Field(default_factory=dict)
    ignore_uri_case: Bool | None = None
    without_headers: Mapping[str, StringMatch] = Field(default_factory=dict)
    source_namespace: Str | None = None
    stat_prefix: Str | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go validateHTTPRouteMatchRequest.
        problems = Violations()
        for alias, headers in (("headers", self.headers), ("withoutHeaders", self.without_headers)):
            for name in headers:
                if not name.startswith(JWT_CLAIM_PREFIX):  # gateway-only form, checked by the VS
                    problems.add(check_header_name(name), alias, name)
        problems.labels(self.source_labels, "sourceLabels")
        for i, gateway in enumerate(self.gateways):
            problems.add(check_gateway_name(gateway), "gateways", i)
        if self.source_namespace is not None:
            problems.add(
                check_dns1123_label(self.source_namespace, "sourceNamespace"), "sourceNamespace"
            )
        problems.raise_if_any()
        return self

    def string_matches(self) -> list[tuple[tuple[str | int, ...], StringMatch]]:
        """Every StringMatch in this block with its path (used for delegate rules)."""
        out: list[tuple[tuple[str | int, ...], StringMatch]] = []
        for field in ("uri", "scheme", "method", "authority"):
            sm = getattr(self, field)
            if sm is not None:
                out.append(((field,), sm))
        for field, alias in (
            ("headers", "headers"),
            ("query_params", "queryParams"),
            ("without_headers", "withoutHeaders"),
        ):
            out.extend(((alias, key), sm) for key, sm in getattr(self, field).items())
        return out


class HTTPRouteDestination(IstioModel):
    """One weighted destination of a route.

    ``weight`` is relative: ``None`` (unset) counts as 0, except that a route's only
    destination gets all traffic.
    """

    destination: Destination
    weight: NonNegInt32 | None = None
    headers: Headers | None = None


class HTTPRedirect(IstioModel):
    """Answer with a 3xx redirect instead of forwarding."""

    uri: Str | None = None
    authority: Str | None = None
    port: Port | None = None
    derive_port: Literal["FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"] | None = None
    scheme: Str | None = None
    redirect_code: UInt32 | None = None
    prefix_rewrite: Str | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go validateHTTPRedirect; port/derivePort are a oneof.
        problems = Violations()
        if not (
            self.uri
            or self.authority
            or self.scheme
            or self.prefix_rewrite
            or self.port is not None
            or self.derive_port is not None
        ):
            problems.add("redirect must specify uri, authority, scheme, or port")
        if self.port is not None and self.derive_port is not None:
            problems.add("only one of port or derivePort may be set", "derivePort")
        if self.redirect_code and not 300 <= self.redirect_code <= 399:
            problems.add(
                f"{self.redirect_code} is not a valid redirect code, must be 3xx", "redirectCode"
            )
        if self.scheme is not None and self.scheme not in ("http", "https"):
            problems.add('invalid redirect scheme, must be "http" or "https"', "scheme")
        problems.raise_if_any()
        return self


class HTTPBody(IstioModel):
    """A direct response body: ``string``, or ``bytes`` in base64."""

    string: Str | None = None
    bytes_: Str | None = Field(default=None, alias="bytes")

    @model_validator(mode="after")
    def _check(self) -> Self:
        problems = Violations()
        if self.string is not None and self.bytes_ is not None:
            problems.add("only one of string or bytes may be set")
        if self.bytes_ is not None:
            try:
                base64.b64decode(self.bytes_, validate=True)
            except (binascii.Error, ValueError):
                problems.add("bytes must be base64-encoded", "bytes")
        problems.raise_if_any()
        return self

    @property
    def data(self) -> bytes:
        """The body as bytes."""
        if self.bytes_ is not None:
            return base64.b64decode(self.bytes_)
        return (self.string or "").encode()


class HTTPDirectResponse(IstioModel):
    """Answer with a fixed status and body instead of forwarding."""

    status: UInt32
    body: HTTPBody | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go validateHTTPDirectResponse.
        problems = Violations()
        if not 200 <= self.status <= 599:
            problems.add(f"HTTP status {self.status} is not in range 200-599", "status")
        if self.body is not None and len(self.body.data) > 1024 * 1024:
            problems.add(
                "large direct_responses may impact control plane performance, must "
                "be less than 1MB",
                "body",
            )
        problems.raise_if_any()
        return self


class RegexRewrite(IstioModel):
    """Rewrite the path with an RE2 regex ``match`` and substitution ``rewrite`` (``\\1``)."""

    match: Str | None = None
    rewrite: Str | None = None
    _pattern: re.Pattern[str] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go validateURIRegexRewrite.
        problems = Violations()
        if not self.match or self.rewrite is None or self.rewrite == "":
            problems.add("uriRegexRewrite requires both rewrite and match fields to be specified")
        if self.match:
            try:
                self._pattern = compile_re2(self.match)
            except Re2Error as exc:
                problems.add(str(exc), "match")
        problems.raise_if_any()
        return self

    @property
    def pattern(self) -> re.Pattern[str] | None:
        """The compiled ``match``."""
        return self._pattern


class HTTPRewrite(IstioModel):
    """Rewrite the path (``uri`` or ``uriRegexRewrite``) and/or ``authority`` before forwarding."""

    uri: Str | None = None
    authority: Str | None = None
    uri_regex_rewrite: RegexRewrite | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go validateHTTPRewrite.
        problems = Violations()
        if self.uri and self.uri_regex_rewrite is not None:
            problems.add("rewrite may only contain one of uri or uriRegexRewrite")
        if not self.uri and self.uri_regex_rewrite is None and not self.authority:
            problems.add("rewrite must specify at least one of uri, uriRegexRewrite, or authority")
        problems.raise_if_any()
        return self


class Delegate(IstioModel):
    """Hand the route over to another VirtualService (by name and namespace)."""

    name: Str | None = None
    namespace: Str | None = None


class HTTPMirrorPolicy(IstioModel):
    """Send a copy of the traffic to another destination."""

    destination: Destination
    percentage: Percent | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        problems = Violations()
        if self.percentage is not None and not 0.0 <= self.percentage.value <= 100.0:
            problems.add(
                f"mirror percentage must be in [0, 100] (it has {self.percentage.value})",
                "percentage",
                "value",
            )
        problems.raise_if_any()
        return self


class HTTPRoute(IstioModel):
    """One HTTP routing rule: match conditions and what to do with matching requests."""

    name: Str | None = None
    match: tuple[HTTPMatchRequest, ...] = ()
    route: tuple[HTTPRouteDestination, ...] = ()
    redirect: HTTPRedirect | None = None
    direct_response: HTTPDirectResponse | None = None
    delegate: Delegate | None = None
    rewrite: HTTPRewrite | None = None
    timeout: MsDuration | None = None
    retries: HTTPRetry | None = None
    fault: HTTPFaultInjection | None = None
    mirror: Destination | None = None
    mirrors: tuple[HTTPMirrorPolicy, ...] = ()
    #: Deprecated; Istio's CRD also accepts the legacy spelling ``mirror_percent``.
    mirror_percent: UInt32 | None = None
    mirror_percentage: Percent | None = None
    cors_policy: CorsPolicy | None = None
    headers: Headers | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go validateHTTPRoute (context-free parts).
        problems = Violations()
        if self.mirror_percent is not None and self.mirror_percent > 100:
            problems.add(
                f"mirrorPercent must have a max value of 100 (it has {self.mirror_percent})",
                "mirrorPercent",
            )
        if self.mirror_percentage is not None:
            problems.add(_mirror_percentage(self.mirror_percentage), "mirrorPercentage", "value")
        if self.mirror is not None and self.mirrors:
            problems.add("only one of mirror or mirrors may be set", "mirrors")
        authorities = [*(self.headers.authority_values() if self.headers else [])]
        if self.rewrite is not None and self.rewrite.authority:
            authorities.append(self.rewrite.authority)
        if len(authorities) > 1:
            problems.add(f"authority header cannot be set multiple times: {authorities}", "headers")
        if len(self.route) > 1 and sum(d.weight or 0 for d in self.route) == 0:
            problems.add("total destination weight = 0", "route")
        problems.raise_if_any()
        return self


def _mirror_percentage(percent: Percent) -> str | None:
    if not 0.0 <= percent.value <= 100.0:
        return f"mirrorPercentage must be in [0, 100] (it has {percent.value})"
    return None
