"""The certificate authority's part of the OpenAPI document (``_openapi.py`` merges it):
``POST /v1/certificates`` and ``GET /v1/ca/roots``."""

from __future__ import annotations

from typing import Any

__all__ = ["ca_paths", "ca_schemas"]

_JSON = "application/json"
_ERROR = {"$ref": "#/components/responses/Error"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def ca_paths() -> dict[str, Any]:
    return {
        "/v1/certificates": {
            "post": {
                "summary": "Sign a workload's CSR for spiffe://<trust domain>/ns/<namespace>"
                "/sa/<serviceAccount> (a join token: its own namespace and service "
                "account only; admin: any)",
                "requestBody": {
                    "required": True,
                    "content": {_JSON: {"schema": _ref("CertificateRequest")}},
                },
                "responses": {
                    "201": {
                        "description": "Signed",
                        "content": {_JSON: {"schema": _ref("Certificate")}},
                    },
                    "4XX": _ERROR,
                    "501": {"description": "The registry runs without a CA"},
                },
            }
        },
        "/v1/ca/roots": {
            "get": {
                "summary": "The trust bundle (several roots during a root rotation) and "
                "the signing certificate (any token)",
                "responses": {
                    "200": {
                        "description": "The CA",
                        "content": {_JSON: {"schema": _ref("CertificateAuthority")}},
                    },
                    "4XX": _ERROR,
                    "501": {"description": "The registry runs without a CA"},
                },
            }
        },
    }


def ca_schemas() -> dict[str, Any]:
    s = {"type": "string"}
    pems = {"type": "array", "items": s, "description": "PEM certificates, one per item"}
    info = {
        "type": "object",
        "properties": {"fingerprint": s, "subject": s, "notBefore": s, "notAfter": s},
    }
    return {
        "CertificateRequest": {
            "type": "object",
            "required": ["csr", "namespace", "serviceAccount"],
            "properties": {
                "csr": {
                    "type": "string",
                    "description": "PEM CSR; any SAN it asks for must be the identity",
                },
                "namespace": s,
                "serviceAccount": s,
                "ttl": {
                    "oneOf": [{"type": "number", "exclusiveMinimum": 0}, s],
                    "description": "seconds, or a duration like '12h'; default the "
                    "registry's --cert-ttl, above its --max-cert-ttl refused (400)",
                },
            },
        },
        "Certificate": {
            "type": "object",
            "properties": {
                "certChain": {"type": "string", "description": "PEM: the leaf, then its CA chain"},
                "rootCerts": pems,
                "identity": {"type": "string", "description": "spiffe://td/ns/NS/sa/SA"},
                "notBefore": s,
                "notAfter": s,
                "serial": {"type": "string", "description": "hexadecimal"},
            },
        },
        "CertificateAuthority": {
            "type": "object",
            "properties": {
                "trustDomain": s,
                "rootCerts": pems,
                "roots": {"type": "array", "items": info},
                "signingCert": {"allOf": [info], "properties": {"source": s}},
                "defaultCertTTL": {"type": "number"},
                "maxCertTTL": {"type": "number"},
            },
        },
    }
