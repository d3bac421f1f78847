"""The registry's OpenAPI document against its routes."""

from __future__ import annotations

from inmesh.registry.server._app import _routes
from inmesh.registry.server._openapi import openapi_document
from inmesh.registry.server._watch import WATCH_PATH


def test_openapi_describes_exactly_the_routes() -> None:
    paths = openapi_document()["paths"]
    routes = {(r.path, m.lower()) for r in _routes() for m in (r.methods or ()) if m != "HEAD"}
    routes.add((WATCH_PATH, "get"))  # answered in front of the router
    documented = {(p, m) for p, ops in paths.items() for m in ops}
    assert routes == documented
