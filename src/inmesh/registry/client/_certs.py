"""Workload certificates from the registry's CA: ``POST /v1/certificates`` and
``GET /v1/ca/roots``, as :class:`RegistryClient` calls them.

The client sends only a CSR: the key stays with the workload (``inmesh.security`` makes
key and CSR). Nothing here parses X.509, so a client that never asks for a certificate
loads no ``cryptography``.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from .._errors import RegistryError

__all__ = ["Request", "SignedCertificate", "fetch_roots", "request_certificate"]

#: ``RegistryClient.request``'s shape: (method, path, json=...) -> response.
Request = Callable[..., Awaitable[httpx.Response]]


@dataclass(frozen=True, slots=True)
class SignedCertificate:
    """What the CA issued: the leaf and its chain up to the root (``chain_pem``, what a
    TLS context presents), the trust bundle (``root_pems``, several during a root
    rotation), the SPIFFE URI, and the leaf's notAfter (Unix seconds)."""

    chain_pem: str
    root_pems: tuple[str, ...]
    identity: str
    not_after: float


def _timestamp(value: object) -> float:
    if not isinstance(value, str):
        raise ValueError(f"notAfter {value!r} is not a timestamp")
    return float(calendar.timegm(time.strptime(value, "%Y-%m-%dT%H:%M:%SZ")))


def _roots(data: Mapping[str, Any]) -> tuple[str, ...]:
    roots = data.get("rootCerts")
    if not isinstance(roots, list) or not roots or not all(isinstance(r, str) for r in roots):
        raise ValueError("rootCerts is not a list of PEM strings")
    return tuple(roots)


async def request_certificate(
    request: Request,
    csr_pem: str,
    *,
    namespace: str,
    service_account: str,
    ttl: float | None = None,
) -> SignedCertificate:
    """Have ``csr_pem`` signed for ``spiffe://<td>/ns/<namespace>/sa/<service_account>``."""
    body: dict[str, Any] = {
        "csr": csr_pem,
        "namespace": namespace,
        "serviceAccount": service_account,
    }
    if ttl is not None:
        body["ttl"] = ttl
    response = await request("POST", "/v1/certificates", json=body)
    try:
        data = response.json()
        chain = data["certChain"]
        identity = data["identity"]
        if not isinstance(chain, str) or not isinstance(identity, str):
            raise ValueError("certChain and identity must be strings")
        return SignedCertificate(
            chain_pem=chain,
            root_pems=_roots(data),
            identity=identity,
            not_after=_timestamp(data.get("notAfter")),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise RegistryError(f"the registry's certificate answer is malformed: {exc}") from None


async def fetch_roots(request: Request) -> tuple[str, ...]:
    """The trust bundle: every root PEM the mesh trusts now."""
    response = await request("GET", "/v1/ca/roots")
    try:
        return _roots(response.json())
    except (ValueError, AttributeError) as exc:
        raise RegistryError(f"the registry's trust bundle answer is malformed: {exc}") from None
