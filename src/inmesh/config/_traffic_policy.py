"""DestinationRule ``trafficPolicy``: connection pools, outlier detection, TLS, retry budget."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator
from typing_extensions import Self

from inmesh.config._base import Bool, Int32, IstioModel, Str, UInt32, Violations
from inmesh.config._common import PortSelector
from inmesh.config._duration import Duration, MsDuration
from inmesh.config._load_balancer import LoadBalancerSettings
from inmesh.config._names import check_fqdn, check_port, is_ip

__all__ = [
    "ClientTLSSettings",
    "ConnectionPoolSettings",
    "HTTP2KeepAlive",
    "HTTPSettings",
    "OutlierDetection",
    "PortTrafficPolicy",
    "ProxyProtocol",
    "RetryBudget",
    "TCPSettings",
    "TcpKeepalive",
    "TrafficPolicy",
    "TunnelSettings",
]

TLSMode = Literal["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"]


def _non_negative(model: IstioModel, fields: tuple[str, ...], problems: Violations) -> None:
    for field in fields:
        value = getattr(model, field)
        if value is not None and value < 0:
            alias = model.__class__.model_fields[field].alias or field
            problems.add(f"{alias} must be non-negative", alias)


class TcpKeepalive(IstioModel):
    """TCP keepalive probes on upstream connections."""

    probes: UInt32 | None = None
    time: MsDuration | None = None
    interval: MsDuration | None = None


class TCPSettings(IstioModel):
    """Limits common to HTTP and TCP upstream connections."""

    max_connections: Int32 | None = None
    connect_timeout: MsDuration | None = None
    tcp_keepalive: TcpKeepalive | None = None
    max_connection_duration: MsDuration | None = None
    idle_timeout: MsDuration | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        problems = Violations()
        _non_negative(self, ("max_connections",), problems)
        problems.raise_if_any()
        return self


class HTTP2KeepAlive(IstioModel):
    """HTTP/2 PING keepalives."""

    interval: Duration | None = None
    timeout: Duration | None = None


class HTTPSettings(IstioModel):
    """Limits on HTTP/1.1 and HTTP/2 upstream requests."""

    http1_max_pending_requests: Int32 | None = None
    http2_max_requests: Int32 | None = None
    max_requests_per_connection: Int32 | None = None
    max_retries: Int32 | None = None
    idle_timeout: MsDuration | None = None
    h2_upgrade_policy: Literal["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"] | None = None
    use_client_protocol: Bool | None = None
    max_concurrent_streams: Int32 | None = None
    http2_keep_alive: HTTP2KeepAlive | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go validateConnectionPool (HTTP settings).
        problems = Violations()
        _non_negative(
            self,
            (
                "http1_max_pending_requests",
                "http2_max_requests",
                "max_requests_per_connection",
                "max_retries",
                "max_concurrent_streams",
            ),
            problems,
        )
        if self.h2_upgrade_policy == "UPGRADE" and self.use_client_protocol:
            problems.add(
                "use client protocol must not be true when h2UpgradePolicy is UPGRADE",
                "useClientProtocol",
            )
        problems.raise_if_any()
        return self


class ConnectionPoolSettings(IstioModel):
    """Circuit-breaking limits on connections and requests to each upstream host."""

    tcp: TCPSettings | None = None
    http: HTTPSettings | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        problems = Violations()
        if self.tcp is None and self.http is None:
            problems.add("connection pool must have at least one field (tcp or http)")
        problems.raise_if_any()
        return self


HttpErrorCode = Annotated[int, Field(ge=100, le=599, strict=True)]


class OutlierDetection(IstioModel):
    """Eject endpoints that keep failing, for ``baseEjectionTime`` times the ejection count."""

    #: Deprecated; use ``consecutiveGatewayErrors`` or ``consecutive5xxErrors``.
    consecutive_errors: Int32 | None = None
    split_external_local_origin_errors: Bool | None = None
    consecutive_local_origin_failures: UInt32 | None = None
    consecutive_gateway_errors: UInt32 | None = None
    consecutive_5xx_errors: UInt32 | None = None
    interval: MsDuration | None = None
    base_ejection_time: MsDuration | None = None
    max_ejection_percent: Int32 | None = None
    min_health_percent: Int32 | None = None
    outlier_detection_http_error_codes: tuple[HttpErrorCode, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go validateOutlierDetection.
        problems = Violations()
        if self.consecutive_local_origin_failures and not self.split_external_local_origin_errors:
            problems.add(
                "outlier detection consecutive local origin failures is specified, but "
                "split external local origin errors is set to false",
                "consecutiveLocalOriginFailures",
            )
        for field in ("max_ejection_percent", "min_health_percent"):
            value = getattr(self, field)
            if value is not None and not 0 <= value <= 100:
                alias = self.__class__.model_fields[field].alias or field
                problems.add(f"percentage {value} is not in range 0..100", alias)
        problems.raise_if_any()
        return self


class ClientTLSSettings(IstioModel):
    """TLS the client side originates towards the upstream (``ISTIO_MUTUAL`` = mesh mTLS)."""

    mode: TLSMode | None = None
    client_certificate: Str | None = None
    private_key: Str | None = None
    ca_certificates: Str | None = None
    credential_name: Str | None = None
    subject_alt_names: tuple[Str, ...] = ()
    sni: Str | None = None
    insecure_skip_verify: Bool | None = None
    ca_crl: Str | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        # agent.ValidateTLS.
        problems = Violations()
        if self.insecure_skip_verify:
            if self.mode == "SIMPLE" and (
                self.ca_certificates or self.credential_name or self.subject_alt_names
            ):
                problems.add(
                    "cannot specify caCertificates or credentialName or subjectAltNames "
                    "when insecureSkipVerify is set true",
                    "insecureSkipVerify",
                )
            if self.mode == "MUTUAL" and (self.ca_certificates or self.subject_alt_names):
                problems.add(
                    "cannot specify caCertificates or subjectAltNames when "
                    "insecureSkipVerify is set true",
                    "insecureSkipVerify",
                )
        if self.mode in ("SIMPLE", "MUTUAL") and self.credential_name:
            if self.client_certificate or self.ca_certificates or self.private_key or self.ca_crl:
                problems.add(
                    "cannot specify client certificates or CA certificate or CA CRL if "
                    "credentialName is set",
                    "credentialName",
                )
        elif self.mode == "MUTUAL":
            if not self.client_certificate:
                problems.add("client certificate required for mutual tls", "clientCertificate")
            if not self.private_key:
                problems.add("private key required for mutual tls", "privateKey")
        problems.raise_if_any()
        return self


class TunnelSettings(IstioModel):
    """Tunnel TCP over HTTP CONNECT/POST to ``targetHost:targetPort``."""

    protocol: Str | None = None
    target_host: Str
    target_port: UInt32

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go validateTunnelSettings.
        problems = Violations()
        if self.protocol not in (None, "", "CONNECT", "POST"):
            problems.add('tunnel protocol must be "CONNECT" or "POST"', "protocol")
        if check_fqdn(self.target_host) and not is_ip(self.target_host):
            problems.add("tunnel target host must be valid FQDN or IP address", "targetHost")
        problems.add(check_port(self.target_port, "tunnel target port"), "targetPort")
        problems.raise_if_any()
        return self


class ProxyProtocol(IstioModel):
    """Send the PROXY protocol header upstream."""

    version: Literal["V1", "V2"] | None = None


class RetryBudget(IstioModel):
    """Limit concurrent retries to a percentage of active requests."""

    percent: Annotated[float, Field(ge=0.0, le=100.0, strict=True)] | None = None
    min_retry_concurrency: UInt32 | None = None
    budget_interval: Duration | None = None


_POLICY_FIELDS = ("load_balancer", "connection_pool", "outlier_detection", "tls")


class PortTrafficPolicy(IstioModel):
    """Traffic policy for one port, overriding the destination-level one."""

    port: PortSelector | None = None
    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go validatePortTrafficPolicies.
        problems = Violations()
        if self.port is None:
            problems.add("portTrafficPolicy must have valid port", "port")
        if all(getattr(self, f) is None for f in _POLICY_FIELDS):
            problems.add("port traffic policy must have at least one field")
        problems.raise_if_any()
        return self


class TrafficPolicy(IstioModel):
    """Policies for traffic to a destination (or one subset of it)."""

    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None
    port_level_settings: tuple[PortTrafficPolicy, ...] = ()
    tunnel: TunnelSettings | None = None
    proxy_protocol: ProxyProtocol | None = None
    retry_budget: RetryBudget | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go validateTrafficPolicy.
        problems = Violations()
        if (
            all(getattr(self, f) is None for f in _POLICY_FIELDS)
            and not self.port_level_settings
            and self.tunnel is None
            and self.proxy_protocol is None
            and self.retry_budget is None
        ):
            problems.add("traffic policy must have at least one field")
        if self.tunnel is not None and self.proxy_protocol is not None:
            problems.add("tunnel and proxyProtocol must not be set together", "proxyProtocol")
        problems.raise_if_any()
        return self
