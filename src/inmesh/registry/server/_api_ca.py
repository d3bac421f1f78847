"""The certificate authority's half of the API: ``POST /v1/certificates`` (sign a
workload's CSR) and ``GET /v1/ca/roots`` (the trust bundle).

Istio's CA server (security/pkg/server/ca ``CreateCertificate``) authenticates the caller
and issues only the identity the caller proves; here the bearer token is the proof: a join
token signs for its own namespace (and its service account, when it names one), an admin
token for any. The workload's key never leaves it: it sends a CSR, the CA checks its
signature and that any SAN it asks for is exactly the identity, and sets everything else
itself (``inmesh.security.CertificateAuthority.sign``).
"""

from __future__ import annotations

from typing import Any

from cryptography import x509
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ...security import CertificateError
from ...security._x509 import check_csr_sans
from .._errors import BadRequest
from ..store import iso_time
from ._ca import RegistryCA
from ._context import ctx_of
from ._http import error_response, json_response, read_json

__all__ = ["ca_roots", "sign_certificate"]

_FIELDS = frozenset({"csr", "serviceAccount", "namespace", "ttl"})
_NO_CA = "this registry has no certificate authority (it was started without one)"


def _ca(request: Request) -> RegistryCA | None:
    return ctx_of(request).ca


def _ttl(value: object, ca: RegistryCA, problems: list[str]) -> float:
    """``ttl``: seconds (a number) or an Istio duration (``"12h"``); absent: the default."""
    from ...config._duration import parse_duration

    if value is None:
        return 0.0
    seconds: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            problems.append(f"ttl: {exc}")
            return 0.0
    if seconds is None or seconds != seconds or seconds <= 0:
        problems.append(f"ttl must be a positive duration (seconds, or like '12h'), not {value!r}")
        return 0.0
    cap = ca.authority.max_ttl
    # Istio's CA refuses a requested TTL above the max (``MAX_WORKLOAD_CERT_TTL``) rather
    # than shortening it (security/pkg/pki/ca/ca.go ``sign``: "requested TTL ... is greater
    # than the max allowed TTL").
    if seconds > cap:
        problems.append(
            f"ttl {seconds:g}s is greater than the max allowed TTL {cap:g}s "
            "(the registry's --max-cert-ttl)"
        )
    return seconds


def _name(body: dict[str, Any], key: str, problems: list[str]) -> str | None:
    from ...config._names import check_dns1123_label, check_namespace

    value = body.get(key)
    if value is None or value == "":
        problems.append(f"{key} is required")
        return None
    if not isinstance(value, str):
        problems.append(f"{key} must be a string, not {value!r}")
        return None
    problem = check_namespace(value) if key == "namespace" else check_dns1123_label(value, key)
    if problem is not None:
        problems.append(problem)
        return None
    return value


async def sign_certificate(request: Request) -> Response:
    """Sign a workload's CSR for ``spiffe://<trust domain>/ns/<namespace>/sa/<account>``.

    401/403 when the token may not hold that identity; every problem of the request
    (fields, the CSR, the TTL) in one 400.
    """
    ctx = ctx_of(request)
    principal = await ctx.principal(request)
    ca = _ca(request)
    if ca is None:
        return error_response(501, [_NO_CA])
    body = await read_json(request, ctx.max_body)
    unknown = sorted(set(body) - _FIELDS)
    problems = [f"unknown field {f!r} in a certificate request" for f in unknown]
    namespace = _name(body, "namespace", problems)
    account = _name(body, "serviceAccount", problems)
    if namespace is not None and account is not None:
        principal.require_workload(namespace, account)
    ttl = _ttl(body.get("ttl"), ca, problems)
    csr_pem = body.get("csr")
    csr: x509.CertificateSigningRequest | None = None
    if not isinstance(csr_pem, str) or not csr_pem.strip():
        problems.append("csr is required: a PEM certificate signing request")
    else:
        try:
            csr = x509.load_pem_x509_csr(csr_pem.encode())
        except ValueError as exc:
            problems.append(f"csr: not a PEM certificate signing request ({exc})")
    if csr is not None:
        if not csr.is_signature_valid:
            problems.append("csr: its signature does not verify")
        if namespace is not None and account is not None:
            try:
                check_csr_sans(csr, ca.identity(namespace, account))
            except CertificateError as exc:
                problems.append(f"csr: {exc}")
    if problems or namespace is None or account is None or csr_pem is None:
        raise BadRequest(400, problems)
    identity = ca.identity(namespace, account)
    try:
        issued = await run_in_threadpool(
            ca.authority.sign, str(csr_pem).encode(), identity=identity, ttl=ttl
        )
    except CertificateError as exc:
        raise BadRequest(400, [f"csr: {exc}"]) from None
    return json_response(
        {
            "certChain": issued.chain_pem.decode(),
            "rootCerts": ca.root_pems(),
            "identity": identity.uri,
            "notBefore": iso_time(issued.not_before),
            "notAfter": iso_time(issued.not_after),
            "serial": f"{issued.serial:032x}",
        },
        201,
    )


async def ca_roots(request: Request) -> Response:
    """The trust bundle (several roots during a root rotation) and the signing cert's
    description; any valid token."""
    await ctx_of(request).principal(request)
    ca = _ca(request)
    if ca is None:
        return error_response(501, [_NO_CA])
    return json_response(dict(ca.describe()))
