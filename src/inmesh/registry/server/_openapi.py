"""The OpenAPI 3.1 document served at ``/v1/openapi.json``, written by hand from the route
table in ``_app.py`` (the API is small; a generator would need a framework we do not
otherwise use). A test checks that every route appears here and nothing else does."""

from __future__ import annotations

from typing import Any

from ._openapi_ca import ca_paths, ca_schemas
from ._openapi_watch import watch_paths, watch_schemas

__all__ = ["openapi_document"]

_JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(description: str, schema: str | None = None, status: str = "200") -> dict[str, Any]:
    body: dict[str, Any] = {"description": description}
    if schema:
        body["content"] = {_JSON: {"schema": _ref(schema)}}
    return {status: body, "4XX": {"$ref": "#/components/responses/Error"}}


def _q(name: str, description: str, type_: str = "string") -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": type_},
    }


def _p(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


_DOCS_BODY = {
    "required": True,
    "content": {
        "application/yaml": {"schema": {"type": "string"}},
        _JSON: {
            "schema": {"oneOf": [_ref("Resource"), {"type": "array", "items": _ref("Resource")}]}
        },
    },
    "description": "One or more resources: multi-document YAML, a JSON document, a JSON "
    "array, or a Kubernetes List. At most 4 MiB (413 beyond).",
}

_RESOURCE_PATH = [_p("kind"), _p("namespace"), _p("name")]
_WORKLOAD_PATH = [_p("namespace"), _p("name")]


def _paths() -> dict[str, Any]:
    return {
        "/v1/healthz": {
            "get": {
                "summary": "Liveness, current revision and the request body limit",
                "security": [],
                "responses": _ok("Serving", "Health"),
            }
        },
        "/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": _ok("The OpenAPI document"),
            }
        },
        "/v1/apply": {
            "post": {
                "summary": "Create or update resources, all or nothing (admin)",
                "parameters": [
                    _q("namespace", "Namespace for documents without one"),
                    _q("dryRun", "Validate only", "boolean"),
                ],
                "requestBody": _DOCS_BODY,
                "responses": _ok("Applied", "ApplyResult"),
            }
        },
        "/v1/delete": {
            "post": {
                "summary": "Delete the resources a body names, all or nothing (admin)",
                "parameters": [
                    _q("namespace", "Namespace for documents without one"),
                    _q("ignoreNotFound", "Skip absent resources", "boolean"),
                ],
                "requestBody": _DOCS_BODY,
                "responses": _ok("Deleted", "ApplyResult"),
            }
        },
        "/v1/resources": {
            "get": {
                "summary": "List resources in the caller's view",
                "parameters": [_q("kind", "Resource kind"), _q("namespace", "Namespace")],
                "responses": _ok("Resources", "ResourceList"),
            }
        },
        "/v1/resources/{kind}/{namespace}/{name}": {
            "get": {
                "summary": "Get one resource",
                "parameters": _RESOURCE_PATH,
                "responses": _ok("The resource", "Resource"),
            },
            "delete": {
                "summary": "Delete one resource (admin)",
                "parameters": [
                    *_RESOURCE_PATH,
                    _q("resourceVersion", "Delete only this version", "integer"),
                ],
                "responses": _ok("Deleted", "ApplyResult"),
            },
        },
        "/v1/workloads": {
            "get": {
                "summary": "Live registrations",
                "parameters": [_q("namespace", "")],
                "responses": _ok("Registrations", "WorkloadList"),
            },
            "post": {
                "summary": "Register a workload (join or admin token)",
                "requestBody": {
                    "required": True,
                    "content": {_JSON: {"schema": _ref("Registration")}},
                },
                "responses": _ok("Registered", "Workload", "201"),
            },
        },
        "/v1/workloads/{namespace}/{name}/heartbeat": {
            "post": {
                "summary": "Renew a registration's lease (404 once expired)",
                "parameters": _WORKLOAD_PATH,
                "responses": _ok("Renewed"),
            }
        },
        "/v1/workloads/{namespace}/{name}": {
            "delete": {
                "summary": "Deregister at once",
                "parameters": _WORKLOAD_PATH,
                "responses": _ok("Deregistered"),
            }
        },
        "/v1/tokens": {
            "get": {"summary": "List tokens (admin)", "responses": _ok("Tokens")},
            "post": {
                "summary": "Create a join token (admin)",
                "requestBody": {
                    "required": True,
                    "content": {_JSON: {"schema": _ref("TokenRequest")}},
                },
                "responses": _ok("The token (shown once)", "Token", "201"),
            },
        },
        "/v1/tokens/{id}": {
            "delete": {
                "summary": "Revoke a token (admin)",
                "parameters": [_p("id")],
                "responses": _ok("Revoked"),
            }
        },
        "/v1/proxies": {
            "get": {
                "summary": "Proxy status: each watching client's applied revision (admin)",
                "responses": _ok("Proxies of this replica", "ProxyList"),
            },
            "post": {
                "summary": "A watching client's status report (join: own namespace)",
                "requestBody": {
                    "required": True,
                    "content": {_JSON: {"schema": _ref("ProxyReport")}},
                },
                "responses": _ok("Recorded"),
            },
        },
        "/v1/proxies/{id}": {
            "delete": {
                "summary": "A client that stopped watching",
                "parameters": [_p("id")],
                "responses": _ok("Removed"),
            }
        },
        "/v1/sd/prometheus": {
            "get": {
                "summary": "Prometheus HTTP service discovery: every live workload's admin "
                "address (http_sd_configs format)",
                "parameters": [_q("namespace", "Namespace")],
                "responses": _ok("Target groups"),
            }
        },
        "/metrics": {
            "get": {
                "summary": "The registry's own metrics, Prometheus text format",
                "security": [],
                "responses": _ok("Metrics"),
            }
        },
    }


def _schemas() -> dict[str, Any]:
    obj, s, i = "object", {"type": "string"}, {"type": "integer"}
    return {
        "Resource": {
            "type": obj,
            "required": ["apiVersion", "kind", "metadata"],
            "description": "An Istio or Kubernetes resource as in YAML; "
            "metadata.resourceVersion makes an update conditional.",
            "additionalProperties": True,
        },
        "ResourceList": {
            "type": obj,
            "properties": {"revision": i, "items": {"type": "array", "items": _ref("Resource")}},
        },
        "ApplyResult": {
            "type": obj,
            "properties": {
                "revision": i,
                "warnings": {"type": "array", "items": s},
                "results": {
                    "type": "array",
                    "items": {
                        "type": obj,
                        "properties": {
                            "kind": s,
                            "namespace": s,
                            "name": s,
                            "resourceVersion": s,
                            "action": {
                                "enum": [
                                    "created",
                                    "configured",
                                    "unchanged",
                                    "deleted",
                                    "validated",
                                ]
                            },
                        },
                    },
                },
            },
        },
        "Registration": {
            "type": obj,
            "required": ["address"],
            "properties": {
                "name": s,
                "namespace": s,
                "address": s,
                "ports": {"type": obj, "additionalProperties": i},
                "labels": {"type": obj, "additionalProperties": s},
                "serviceAccount": s,
                "locality": s,
                "network": s,
                "weight": i,
                "ttl": {"type": "number", "minimum": 1, "maximum": 300, "default": 10},
            },
        },
        "Workload": {
            "type": obj,
            "properties": {
                "namespace": s,
                "name": s,
                "ttl": {"type": "number"},
                "heartbeatInterval": {"type": "number"},
                "revision": i,
                "created": s,
                "age": {"type": "number"},
                "lastHeartbeat": {"type": "number"},
                "expiresIn": {"type": "number"},
                "workload": _ref("Resource"),
            },
        },
        "WorkloadList": {
            "type": obj,
            "properties": {"items": {"type": "array", "items": _ref("Workload")}},
        },
        "TokenRequest": {
            "type": obj,
            "required": ["namespace"],
            "properties": {"namespace": s, "serviceAccount": s},
        },
        "Token": {
            "type": obj,
            "properties": {
                "id": s,
                "role": {"enum": ["admin", "join"]},
                "namespace": s,
                "serviceAccount": s,
                "created": s,
                "token": s,
            },
        },
        "Rejection": {
            "type": obj,
            "required": ["kind", "namespace", "name", "reason"],
            "properties": {"kind": s, "namespace": s, "name": s, "reason": s},
        },
        "ProxyReport": {
            "type": obj,
            "required": ["id", "service"],
            "properties": {
                "id": s,
                "service": s,
                "namespace": s,
                "labels": {"type": obj, "additionalProperties": s},
                "applied": i,
                "generation": i,
                "rejections": {"type": "array", "items": _ref("Rejection")},
            },
        },
        "ProxyList": {
            "type": obj,
            "properties": {
                "revision": i,
                "store": s,
                "items": {
                    "type": "array",
                    "items": {
                        "allOf": [_ref("ProxyReport")],
                        "properties": {
                            "status": {"enum": ["SYNCED", "STALE"]},
                            "lastSeen": {"type": "number"},
                        },
                    },
                },
            },
        },
        "Health": {
            "type": obj,
            "properties": {"status": s, "revision": i, "store": s, "maxBody": i},
        },
        "Error": {
            "type": obj,
            "required": ["code", "messages"],
            "properties": {
                "code": i,
                "reason": s,
                "messages": {"type": "array", "items": s},
                "problems": {
                    "type": "array",
                    "description": "For a 400 about an apply's or a delete's documents: "
                    "one per message, in the same order, located in the request "
                    "(document: its index among the body's documents, from 1)",
                    "items": {
                        "type": obj,
                        "required": ["message"],
                        "properties": {
                            "document": i,
                            "message": s,
                            "kind": s,
                            "namespace": s,
                            "name": s,
                            "field": s,
                            "code": s,
                        },
                    },
                },
            },
        },
    }


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "inmesh registry",
            "version": "1",
            "description": "Configuration store, workload registry, push service and "
            "certificate authority of inmesh (see docs/registry.md).",
        },
        "security": [{"bearer": []}],
        "paths": {**_paths(), **watch_paths(), **ca_paths()},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {**_schemas(), **ca_schemas(), **watch_schemas()},
            "responses": {
                "Error": {
                    "description": "Refused; every reason in `messages` "
                    "(401 no credentials, 403 not allowed, "
                    "409 conflict, 413 too large)",
                    "content": {_JSON: {"schema": _ref("Error")}},
                }
            },
        },
    }
