"""Gateway (networking.istio.io): a load balancer at the edge of the mesh and its listeners.

An in-process mesh has no ingress gateway; Gateways are validated so that Istio's own
configuration loads, and VirtualServices bound only to gateways are not applied to
in-process traffic (see ``VirtualServiceSpec.applies_to_mesh``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field, model_validator
from typing_extensions import Self

from inmesh.config._base import Bool, IstioModel, IstioResource, Str, UInt32, Violations
from inmesh.config._common import NetworkingVersion
from inmesh.config._names import (
    check_dns1123_label,
    check_port,
    check_protocol,
    check_wildcard_domain,
    is_ip,
)

__all__ = ["Gateway", "GatewaySpec", "Server", "ServerPort", "ServerTLSSettings", "TLSCertificate"]

TLSVersion = Literal["TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"]
_TLS_PROTOCOLS = frozenset({"HTTPS", "TLS"})
_HTTP_PROTOCOLS = frozenset({"HTTP", "HTTP2", "GRPC", "GRPC-WEB", "HTTP_PROXY"})


class ServerPort(IstioModel):
    """The port a gateway listens on."""

    number: UInt32
    protocol: Str
    name: Str
    #: Deprecated; has no effect on Gateways.
    target_port: UInt32 | None = None


class TLSCertificate(IstioModel):
    """One server certificate (of at most two: RSA and ECDSA)."""

    server_certificate: Str | None = None
    private_key: Str | None = None
    ca_certificates: Str | None = None


class ServerTLSSettings(IstioModel):
    """TLS a gateway terminates or passes through."""

    https_redirect: Bool | None = None
    mode: (
        Literal[
            "PASSTHROUGH", "SIMPLE", "MUTUAL", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL"
        ]
        | None
    ) = None
    server_certificate: Str | None = None
    private_key: Str | None = None
    ca_certificates: Str | None = None
    ca_crl: Str | None = None
    credential_name: Str | None = None
    credential_names: Annotated[tuple[Str, ...], Field(max_length=2)] = ()
    tls_certificates: Annotated[tuple[TLSCertificate, ...], Field(max_length=2)] = ()
    subject_alt_names: tuple[Str, ...] = ()
    verify_certificate_spki: tuple[Str, ...] = ()
    verify_certificate_hash: tuple[Str, ...] = ()
    min_protocol_version: TLSVersion | None = None
    max_protocol_version: TLSVersion | None = None
    cipher_suites: tuple[Str, ...] = ()
    insecure_skip_verify: Bool | None = None
    ca_cert_credential_name: Str | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go validateTLSOptions.
        problems = Violations()
        if self.mode == "ISTIO_MUTUAL":
            for field, what in (
                ("server_certificate", "server certificate"),
                ("private_key", "private key"),
                ("ca_certificates", "CA bundle"),
                ("credential_name", "credentialName"),
            ):
                if getattr(self, field):
                    problems.add(
                        f"ISTIO_MUTUAL TLS cannot have associated {what}",
                        self.__class__.model_fields[field].alias or field,
                    )
        elif self.mode in ("SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL") and not (
            self.credential_name or self.credential_names or self.tls_certificates
        ):
            if not self.server_certificate:
                problems.add(f"{self.mode} TLS requires a server certificate", "serverCertificate")
            if not self.private_key:
                problems.add(f"{self.mode} TLS requires a private key", "privateKey")
            if self.mode != "SIMPLE" and not self.ca_certificates:
                problems.add("MUTUAL TLS requires a client CA bundle", "caCertificates")
        if self.ca_crl and self.credential_name:
            problems.add(
                "CRL is not supported with credentialName. CRL has to be specified in "
                "the credential",
                "caCrl",
            )
        problems.raise_if_any()
        return self


def _check_server_host(host: str) -> str | None:
    """agent.ValidateNamespaceSlashWildcardHostname: ``[namespace/]host``."""
    namespace, slash, name = host.rpartition("/")
    if slash and namespace not in ("*", ".", "~"):
        problem = check_dns1123_label(namespace, "namespace")
        if problem:
            return problem
    if name == "*" or is_ip(name):
        return None
    return check_wildcard_domain(name)


class Server(IstioModel):
    """One listener of a gateway: port, hosts and TLS."""

    port: ServerPort
    bind: Str | None = None
    hosts: tuple[Str, ...] = ()
    tls: ServerTLSSettings | None = None
    name: Str | None = None
    default_endpoint: Str | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go validateServer / validateServerPort.
        problems = Violations()
        if not self.hosts:
            problems.add("server config must contain at least one host", "hosts")
        for i, host in enumerate(self.hosts):
            problems.add(_check_server_host(host), "hosts", i)
        protocol = self.port.protocol.upper()
        problems.add(check_protocol(self.port.protocol), "port", "protocol")
        if self.port.number or not (self.bind or "").startswith("unix://"):
            problems.add(check_port(self.port.number), "port", "number")
        if self.port.target_port:
            problems.add("targetPort has no impact on Gateways", "port", "targetPort")
        if not self.port.name:
            problems.add("port name must be set", "port", "name")
        if protocol in _TLS_PROTOCOLS and self.tls is None:
            problems.add("server must have TLS settings for HTTPS/TLS protocols", "tls")
        elif protocol not in _TLS_PROTOCOLS and self.tls is not None:
            plain_redirect = self.tls.https_redirect and not (
                self.tls.server_certificate or self.tls.private_key or self.tls.ca_certificates
            )
            if protocol not in _HTTP_PROTOCOLS or not plain_redirect:
                problems.add("server cannot have TLS settings for plain text ports", "tls")
        problems.raise_if_any()
        return self


class GatewaySpec(IstioModel):
    """The listeners of a gateway and the gateway workloads (``selector``) it configures."""

    servers: tuple[Server, ...] = ()
    selector: Mapping[str, Str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go ValidateGateway.
        problems = Violations()
        if not self.servers:
            problems.add("gateway must have at least one server", "servers")
        names: set[str] = set()
        for i, server in enumerate(self.servers):
            if server.port.name in names:
                problems.add(
                    f"port names in servers must be unique: duplicate name {server.port.name}",
                    "servers",
                    i,
                    "port",
                    "name",
                )
            names.add(server.port.name)
        problems.raise_if_any()
        return self


class Gateway(IstioResource):
    """``networking.istio.io`` Gateway: listeners of an ingress/egress gateway."""

    api_version: NetworkingVersion = Field(default="networking.istio.io/v1", alias="apiVersion")
    kind: Literal["Gateway"] = "Gateway"
    spec: GatewaySpec

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go ValidateGateway: gateway names are DNS labels (no dots).
        problems = Violations()
        problems.add(check_dns1123_label(self.metadata.name, "gateway name"), "metadata", "name")
        problems.raise_if_any()
        return self
