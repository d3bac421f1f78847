"""Views: resources reused by version, and a document the client cannot parse skipped
(logged once, reported) instead of costing it the whole view."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from inmesh.registry.client import Rejection
from inmesh.registry.client._view import ViewBuilder


def service_entry(name: str, version: str = "1", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": name, "namespace": "shop", "resourceVersion": version},
        "spec": {
            "hosts": [f"{name}.example.com"],
            "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
            **spec,
        },
    }


def test_a_bad_document_is_skipped_and_the_rest_delivered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    views = ViewBuilder("http://registry")
    bad = service_entry("cart", frobnicate=True)
    with caplog.at_level(logging.WARNING, logger="inmesh.registry"):
        view = views.build(3, [service_entry("a"), bad, service_entry("b")])
    assert view.revision == 3
    assert [r.name for r in view.resources] == ["a", "b"]
    (rejected,) = view.rejected
    assert (rejected.kind, rejected.namespace, rejected.name) == ("ServiceEntry", "shop", "cart")
    assert "frobnicate" in rejected.reason
    assert [r.getMessage() for r in caplog.records] == [
        f"registry http://registry: not applying {rejected}"
    ]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="inmesh.registry"):
        again = views.build(4, [service_entry("a"), bad, service_entry("b")])
    assert again.rejected == view.rejected
    assert caplog.records == []  # logged once, not on every view


def test_unchanged_documents_are_reused_not_parsed_again() -> None:
    views = ViewBuilder("http://registry")
    first = views.build(1, [service_entry("a"), service_entry("b")])
    second = views.build(2, [service_entry("a"), service_entry("b", version="2")])
    assert second.resources[0] is first.resources[0]
    assert second.resources[1] is not first.resources[1]
    assert views.keys == {
        ("ServiceEntry", "shop", "a", "1"),
        ("ServiceEntry", "shop", "b", "2"),
    }


def test_a_fixed_document_is_accepted_again() -> None:
    views = ViewBuilder("http://registry")
    assert views.build(1, [service_entry("a", frobnicate=1)]).rejected
    fixed = views.build(2, [service_entry("a", version="2")])
    assert fixed.rejected == () and [r.name for r in fixed.resources] == ["a"]


def test_rejection_text_and_json() -> None:
    r = Rejection("VirtualService", "shop", "cart", "spec.http[0].corsPolicy: not supported yet")
    assert str(r) == "VirtualService shop/cart: spec.http[0].corsPolicy: not supported yet"
    assert r.to_json()["reason"] == r.reason
