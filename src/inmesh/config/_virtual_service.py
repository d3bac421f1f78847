"""VirtualService (networking.istio.io): routing rules for HTTP, TLS and TCP traffic to hosts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field, model_validator
from typing_extensions import Self

from inmesh.config._base import IstioModel, IstioResource, NonNegInt32, Port, Str, Violations
from inmesh.config._common import Destination, NetworkingVersion
from inmesh.config._http_route import JWT_CLAIM_PREFIX, HTTPRoute
from inmesh.config._names import (
    check_dns1123_label,
    check_export_to,
    check_gateway_name,
    check_ip_or_subnet,
    check_wildcard_domain,
    is_ip,
)

__all__ = [
    "L4MatchAttributes",
    "RouteDestination",
    "TCPRoute",
    "TLSMatchAttributes",
    "TLSRoute",
    "VirtualService",
    "VirtualServiceSpec",
    "host_overlaps",
]

NETWORKING_VERSIONS = (
    "networking.istio.io/v1",
    "networking.istio.io/v1beta1",
    "networking.istio.io/v1alpha3",
)
MESH_GATEWAY = "mesh"  # Istio's reserved name for "all sidecars"


def host_overlaps(a: str, b: str) -> bool:
    """Istio's ``host.Name.Matches``: do two (possibly wildcard) host names overlap?"""
    a, b = a.lower(), b.lower()
    if a.startswith("*"):
        if b.startswith("*"):
            return a[1:].endswith(b[1:]) if len(a) >= len(b) else b[1:].endswith(a[1:])
        return b.endswith(a[1:])
    if b.startswith("*"):
        return a.endswith(b[1:])
    return a == b


def _host_subset_of(sub: str, host: str) -> bool:
    """Istio's ``host.Name.SubsetOf``."""
    sub, host = sub.lower(), host.lower()
    if sub.startswith("*"):
        return host.startswith("*") and sub[1:].endswith(host[1:])
    if host.startswith("*"):
        return sub.endswith(host[1:])
    return sub == host


def _check_l4(match: L4MatchAttributes | TLSMatchAttributes, problems: Violations) -> None:
    for i, subnet in enumerate(match.destination_subnets):
        problems.add(check_ip_or_subnet(subnet), "destinationSubnets", i)
    problems.labels(match.source_labels, "sourceLabels")
    for i, gateway in enumerate(match.gateways):
        problems.add(check_gateway_name(gateway), "gateways", i)
    if match.source_namespace is not None:
        problems.add(
            check_dns1123_label(match.source_namespace, "sourceNamespace"), "sourceNamespace"
        )


class L4MatchAttributes(IstioModel):
    """Conditions on a TCP connection."""

    destination_subnets: tuple[Str, ...] = ()
    port: Port | None = None
    source_subnet: Str | None = None
    source_labels: Mapping[str, Str] = Field(default_factory=dict)
    gateways: tuple[Str, ...] = ()
    source_namespace: Str | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        problems = Violations()
        _check_l4(self, problems)
        problems.raise_if_any()
        return self


class TLSMatchAttributes(IstioModel):
    """Conditions on a TLS connection, chiefly its SNI."""

    sni_hosts: tuple[Str, ...]
    destination_subnets: tuple[Str, ...] = ()
    port: Port | None = None
    source_labels: Mapping[str, Str] = Field(default_factory=dict)
    gateways: tuple[Str, ...] = ()
    source_namespace: Str | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        problems = Violations()
        if not self.sni_hosts:
            problems.add("TLS match must have at least one SNI host", "sniHosts")
        _check_l4(self, problems)
        problems.raise_if_any()
        return self


class RouteDestination(IstioModel):
    """A weighted destination of a TLS or TCP route."""

    destination: Destination
    weight: NonNegInt32 | None = None


def _check_weights(routes: tuple[RouteDestination, ...], problems: Violations) -> None:
    if len(routes) > 1 and sum(r.weight or 0 for r in routes) == 0:
        problems.add("total destination weight = 0", "route")


class TLSRoute(IstioModel):
    """Route non-terminated TLS traffic by SNI."""

    match: tuple[TLSMatchAttributes, ...] = ()
    route: tuple[RouteDestination, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go validateTLSRoute.
        problems = Violations()
        if not self.match:
            problems.add("TLS route must have at least one match condition", "match")
        if not self.route:
            problems.add("TLS route is required", "route")
        _check_weights(self.route, problems)
        problems.raise_if_any()
        return self


class TCPRoute(IstioModel):
    """Route opaque TCP traffic."""

    match: tuple[L4MatchAttributes, ...] = ()
    route: tuple[RouteDestination, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go validateTCPRoute.
        problems = Violations()
        if not self.route:
            problems.add("TCP route is required", "route")
        _check_weights(self.route, problems)
        problems.raise_if_any()
        return self


class VirtualServiceSpec(IstioModel):
    """The routing rules of a VirtualService (``networking.v1alpha3.VirtualService``)."""

    hosts: tuple[Str, ...] = ()
    gateways: tuple[Str, ...] = ()
    http: tuple[HTTPRoute, ...] = ()
    tls: tuple[TLSRoute, ...] = ()
    tcp: tuple[TCPRoute, ...] = ()
    export_to: tuple[Str, ...] = ()

    @property
    def is_delegate(self) -> bool:
        """A VirtualService without hosts is a delegate, used only through ``http[].delegate``."""
        return not self.hosts

    @property
    def applies_to_mesh(self) -> bool:
        """Whether the rules apply to sidecars (in-process clients): no gateways, or ``mesh``."""
        return not self.gateways or MESH_GATEWAY in self.gateways

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go ValidateVirtualService.
        problems = Violations()
        if self.is_delegate:
            if self.gateways:
                problems.add("delegate virtual service must have no gateways specified", "gateways")
            if self.tls:
                problems.add("delegate virtual service must have no tls route specified", "tls")
            if self.tcp:
                problems.add("delegate virtual service must have no tcp route specified", "tcp")
        for i, gateway in enumerate(self.gateways):
            problems.add(check_gateway_name(gateway), "gateways", i)
        applies_to_gateway = bool(self.gateways) and MESH_GATEWAY not in self.gateways
        self._check_hosts(applies_to_gateway, problems)
        if not (self.http or self.tcp or self.tls):
            problems.add("http, tcp or tls must be provided in virtual service")
        for i, route in enumerate(self.http):
            self._check_http(route, i, applies_to_gateway, problems)
        for i, tls in enumerate(self.tls):
            for j, match in enumerate(tls.match):
                for k, sni in enumerate(match.sni_hosts):
                    problems.add(self._check_sni(sni), "tls", i, "match", j, "sniHosts", k)
        for i, message in check_export_to(self.export_to, allow_none=False):
            problems.add(message, "exportTo", i)
        problems.raise_if_any()
        return self

    def _check_hosts(self, applies_to_gateway: bool, problems: Violations) -> None:
        valid = True
        for i, host in enumerate(self.hosts):
            error = None if applies_to_gateway and host == "*" else check_wildcard_domain(host)
            if error and not is_ip(host):
                problems.add(error, "hosts", i)
                valid = False
            elif not applies_to_gateway and host == "*":
                problems.add(
                    "wildcard host * is not allowed for virtual services bound to the mesh gateway",
                    "hosts",
                    i,
                )
                valid = False
        if valid:
            for i, a in enumerate(self.hosts):
                for j in range(i + 1, len(self.hosts)):
                    if host_overlaps(a, self.hosts[j]):
                        problems.add(
                            f"duplicate hosts in virtual service: {a} & {self.hosts[j]}", "hosts", j
                        )

    def _check_http(
        self, route: HTTPRoute, i: int, applies_to_gateway: bool, problems: Violations
    ) -> None:
        # validation.go validateHTTPRouteConflict, with Istio's root/delegate route types.
        if route.delegate is not None and not self.is_delegate:
            for field, alias in (
                ("redirect", "redirect"),
                ("route", "route"),
                ("direct_response", "directResponse"),
            ):
                if getattr(route, field):
                    problems.add(f"root HTTP route must not specify {alias}", "http", i, alias)
        else:
            if route.delegate is not None:
                problems.add("delegate HTTP route cannot contain delegate", "http", i, "delegate")
            _check_actions(route, problems, "http", i)
        for j, match in enumerate(route.match):
            for alias, headers in (
                ("headers", match.headers),
                ("withoutHeaders", match.without_headers),
            ):
                for name in headers:
                    if name.startswith(JWT_CLAIM_PREFIX) and not applies_to_gateway:
                        problems.add(
                            f"JWT claim based routing (key: {name}) is only supported for "
                            "gateway, found no gateways",
                            "http",
                            i,
                            "match",
                            j,
                            alias,
                            name,
                        )
            if self.is_delegate:
                for loc, sm in match.string_matches():
                    if sm.regex is not None:
                        problems.add(
                            "regex match is not supported for delegating",
                            "http",
                            i,
                            "match",
                            j,
                            *loc,
                        )

    def _check_sni(self, sni: str) -> str | None:
        error = check_wildcard_domain(sni)
        if error:
            return None if is_ip(sni) else error
        if not any(_host_subset_of(sni, host) for host in self.hosts):
            return (
                f"SNI host {sni!r} is not a compatible subset of any of the virtual service "
                f"hosts: [{', '.join(self.hosts)}]"
            )
        return None


def _check_actions(route: HTTPRoute, problems: Violations, *loc: str | int) -> None:
    """A route has exactly one action: route, redirect or directResponse, and they exclude
    fault and rewrite as Istio's validateHTTPRouteConflict says."""
    if route.redirect is not None:
        if route.route:
            problems.add("HTTP route cannot contain both route and redirect", *loc, "redirect")
        if route.fault is not None:
            problems.add("HTTP route cannot contain both fault and redirect", *loc, "fault")
        if route.rewrite is not None:
            problems.add(
                "HTTP route rule cannot contain both rewrite and redirect", *loc, "rewrite"
            )
        if route.direct_response is not None:
            problems.add(
                "HTTP route cannot contain both redirect and directResponse", *loc, "directResponse"
            )
    elif route.direct_response is not None:
        if route.route:
            problems.add(
                "HTTP route cannot contain both route and directResponse", *loc, "directResponse"
            )
        if route.fault is not None:
            problems.add("HTTP route cannot contain both fault and directResponse", *loc, "fault")
        if route.rewrite is not None:
            problems.add(
                "HTTP route rule cannot contain both rewrite and directResponse", *loc, "rewrite"
            )
    elif not route.route:
        problems.add(
            "HTTP route, redirect or directResponse is required (route is empty)", *loc, "route"
        )


class VirtualService(IstioResource):
    """``networking.istio.io`` VirtualService: how requests to ``spec.hosts`` are routed."""

    api_version: NetworkingVersion = Field(default="networking.istio.io/v1", alias="apiVersion")
    kind: Literal["VirtualService"] = "VirtualService"
    spec: VirtualServiceSpec
