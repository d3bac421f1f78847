"""The registry's public surface, and its OpenAPI document against its routes."""

from __future__ import annotations

import argparse

import inmesh.registry as registry
from inmesh.registry._app import _routes
from inmesh.registry._openapi import openapi_document
from inmesh.registry._watch import WATCH_PATH


def test_public_surface_is_sorted_and_importable() -> None:
    assert registry.__all__ == sorted(registry.__all__, key=lambda n: (not n.isupper(), n))
    for name in registry.__all__:
        assert getattr(registry, name) is not None


def test_openapi_describes_exactly_the_routes() -> None:
    paths = openapi_document()["paths"]
    routes = {(r.path, m.lower()) for r in _routes() for m in (r.methods or ()) if m != "HEAD"}
    routes.add((WATCH_PATH, "get"))  # answered in front of the router
    documented = {(p, m) for p, ops in paths.items() for m in ops}
    assert routes == documented


def test_add_commands_sets_func_on_every_command() -> None:
    parser = argparse.ArgumentParser()
    registry.add_commands(parser.add_subparsers(dest="command", required=True))
    for argv in (
        ["apply", "-f", "x.yaml"],
        ["get", "vs"],
        ["delete", "vs", "a"],
        ["status"],
        ["registry", "serve"],
        ["registry", "token", "create", "-n", "shop"],
    ):
        assert callable(parser.parse_args(argv).func)
