"""The watch protocol's part of the OpenAPI document (``_openapi.py`` merges it):
``GET /v1/watch`` and its two answers, a Delta and a Snapshot."""

from __future__ import annotations

from typing import Any

__all__ = ["watch_paths", "watch_schemas"]

_JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _q(name: str, description: str, type_: str = "string") -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": type_},
    }


def watch_paths() -> dict[str, Any]:
    return {
        "/v1/watch": {
            "get": {
                "summary": "Long-poll for what changed in the caller's view",
                "description": "Answers at once when the current revision is newer "
                "than `revision` of `store` (or `store` differs); otherwise "
                "holds the request until a new revision or `timeout` seconds, "
                "then answers 304. With `delta=1` the answer is a Delta (what changed "
                "since `revision`, in the caller's scope) when the registry's push log "
                "reaches back to `revision`, else a Snapshot (`full: true`); without it, "
                "always a Snapshot.",
                "parameters": [
                    _q("delta", "1: answer with a Delta when possible", "integer"),
                    _q("revision", "Revision the caller has", "integer"),
                    _q("store", "Store id the revision belongs to"),
                    _q("timeout", "Seconds to hold (at most 60)", "number"),
                    _q("proxy", "The caller's proxy id, when it reports its status"),
                    _q("applied", "The revision the proxy applied", "integer"),
                    _q("report", "The generation of the proxy's last full report", "integer"),
                ],
                "responses": {
                    "200": {
                        "description": "A delta from `revision`, or a full snapshot",
                        "content": {
                            _JSON: {"schema": {"oneOf": [_ref("Delta"), _ref("Snapshot")]}}
                        },
                    },
                    "304": {"description": "No change within the timeout"},
                },
            }
        },
    }


def watch_schemas() -> dict[str, Any]:
    obj, s, i = "object", {"type": "string"}, {"type": "integer"}
    return {
        "Snapshot": {
            "type": obj,
            "description": "Every resource and live workload the caller may see.",
            "properties": {
                "revision": i,
                "store": s,
                "full": {"type": "boolean", "enum": [True]},
                "resources": {"type": "array", "items": _ref("Resource")},
            },
        },
        "Delta": {
            "type": obj,
            "description": "What changed after revision `since` up to `revision`, in the "
            "caller's view: documents to add or replace, and keys to remove.",
            "required": ["revision", "store", "since", "updated", "deleted"],
            "properties": {
                "revision": i,
                "store": s,
                "since": i,
                "updated": {"type": "array", "items": _ref("Resource")},
                "deleted": {
                    "type": "array",
                    "items": {
                        "type": obj,
                        "properties": {"kind": s, "namespace": s, "name": s},
                    },
                },
            },
        },
    }
