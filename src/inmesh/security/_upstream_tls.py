"""TLS origination to an upstream (DestinationRule ``trafficPolicy.tls``).

``DISABLE`` sends plain text; ``SIMPLE`` originates TLS, verifying the server against
``caCertificates`` (or the system roots) for ``sni`` (or the destination host);
``MUTUAL`` also presents ``clientCertificate``/``privateKey``. ``ISTIO_MUTUAL`` is the
mesh's own mTLS with the workload certificate (``routing/_mtls.py``), not origination.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class UpstreamTLS:
    """What the endpoint tier needs to originate TLS: an SNI and the context's settings."""

    mode: str
    sni: str
    ca_certificates: str | None = None
    client_certificate: str | None = None
    private_key: str | None = None
    insecure_skip_verify: bool = False

    @staticmethod
    def of(tls: Any, host: str) -> UpstreamTLS | None:
        if tls is None or (tls.mode or "DISABLE") in ("DISABLE", "ISTIO_MUTUAL"):
            return None
        return UpstreamTLS(
            mode=tls.mode,
            sni=tls.sni or host,
            ca_certificates=tls.ca_certificates,
            client_certificate=tls.client_certificate,
            private_key=tls.private_key,
            insecure_skip_verify=bool(tls.insecure_skip_verify),
        )

    @property
    def context_key(self) -> tuple[str | None, str | None, str | None, bool]:
        """Clusters with equal keys share one TLS context (and connection pool)."""
        return (
            self.ca_certificates,
            self.client_certificate,
            self.private_key,
            self.insecure_skip_verify,
        )

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca_certificates)
        if self.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.client_certificate:
            ctx.load_cert_chain(self.client_certificate, self.private_key)
        return ctx
