"""Istio mutual TLS towards a cluster: explicit (``tls.mode: ISTIO_MUTUAL``) or automatic.

Istio's auto mTLS (``enableAutoMtls``, on by default): when a DestinationRule sets no TLS
mode for the destination, a sidecar sends mTLS to the endpoints that carry the label
``security.istio.io/tlsMode: istio`` (workloads with a sidecar, i.e. a certificate) and
plaintext to the others. ``ISTIO_MUTUAL`` sends mTLS to every endpoint.

The server is verified by identity, not host name (pilot's ``buildIstioMutualTLS``): the
accepted SPIFFE identities are the service accounts of the destination's workloads plus
the ServiceEntry's ``subjectAltNames``; when none is known, any certificate of the mesh CA
is accepted (Envoy then has no SAN matcher). The SNI is Istio's
``outbound_.<port>_.<subset>_.<host>``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..balancing import Endpoint

TLS_MODE_LABEL = "security.istio.io/tlsMode"
TLS_MODE_ISTIO = "istio"


@dataclass(frozen=True, slots=True)
class MeshMTLS:
    """How a cluster uses the mesh's mTLS."""

    #: ISTIO_MUTUAL (every endpoint); False: auto mTLS (only the labelled endpoints)
    explicit: bool
    sni: str
    #: accepted server identities (SPIFFE URIs); empty: any identity the mesh CA issued
    identities: frozenset[str]
    #: auto mTLS: the keys of the endpoints that take mTLS
    endpoints: frozenset[str]

    def applies_to(self, endpoint_key: str) -> bool:
        return self.explicit or endpoint_key in self.endpoints


def mesh_mtls(
    *,
    tls: Any,
    endpoints: Iterable[Endpoint],
    namespace: str,
    subject_alt_names: Iterable[str],
    trust_domain: str,
    port: int,
    subset: str | None,
    host: str,
) -> MeshMTLS | None:
    """The cluster's mesh mTLS, or None (DISABLE, SIMPLE or MUTUAL origination, or auto mTLS
    with no endpoint that takes it)."""
    mode = getattr(tls, "mode", None) if tls is not None else None
    if mode is not None and mode != "ISTIO_MUTUAL":
        return None  # DISABLE, or TLS origination with the application's certificates
    eps = list(endpoints)
    labelled = frozenset(e.key for e in eps if e.labels.get(TLS_MODE_LABEL) == TLS_MODE_ISTIO)
    explicit = mode == "ISTIO_MUTUAL"
    if not explicit and not labelled:
        return None
    identities = {
        f"spiffe://{trust_domain}/ns/{namespace}/sa/{e.service_account}"
        for e in eps
        if e.service_account
    }
    identities.update(
        san if san.startswith("spiffe://") else f"spiffe://{san}" for san in subject_alt_names
    )
    return MeshMTLS(
        explicit=explicit,
        sni=f"outbound_.{port}_.{subset or ''}_.{host}",
        identities=frozenset(identities),
        endpoints=labelled,
    )
