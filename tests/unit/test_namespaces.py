"""Istio's namespace rules: exportTo visibility, label selection, the root namespace."""

from __future__ import annotations

import pytest

from inmesh._namespaces import ROOT_NAMESPACE, selects, visible


@pytest.mark.parametrize(
    ("export_to", "owner", "client", "expected"),
    [
        (None, "shop", "default", True),
        ((), "shop", "default", True),
        (("*",), "shop", "default", True),
        ((".",), "shop", "shop", True),
        ((".",), "shop", "default", False),
        (("default",), "shop", "default", True),
        (("other", "default"), "shop", "default", True),
        (("other",), "shop", "default", False),
        (("other",), "shop", "shop", False),  # "." is not implied for a listed export
    ],
)
def test_visible(
    export_to: tuple[str, ...] | None, owner: str, client: str, expected: bool
) -> None:
    assert visible(export_to, owner, client) is expected


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        (None, {"app": "a"}, True),
        ({}, {}, True),
        ({"app": "a"}, {"app": "a", "version": "v1"}, True),
        ({"app": "a", "version": "v2"}, {"app": "a", "version": "v1"}, False),
        ({"app": "a"}, {}, False),
        ({"app": ""}, {}, False),  # a key with an empty value must be present
    ],
)
def test_selects(selector: dict[str, str] | None, labels: dict[str, str], expected: bool) -> None:
    assert selects(selector, labels) is expected


def test_root_namespace_is_istios_default() -> None:
    assert ROOT_NAMESPACE == "istio-system"
