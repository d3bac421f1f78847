"""Tokens, the admin token file, and what a join token may see and do."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from inmesh.registry._auth import (
    Denied,
    Principal,
    ensure_admin_token,
    read_admin_token,
    visible,
)
from inmesh.registry._store import Token

ADMIN = Principal(Token("admin-1", "admin", 0.0))
SHOP = Principal(Token("join-1", "join", 0.0, namespace="shop"))
CART = Principal(Token("join-2", "join", 0.0, namespace="shop", service_account="cart"))


def doc(kind: str, namespace: str, export_to: list[str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {} if export_to is None else {"exportTo": export_to}
    return {"kind": kind, "metadata": {"name": "x", "namespace": namespace}, "spec": spec}


def test_admin_token_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    data = tmp_path / "data"
    token = ensure_admin_token(data)
    assert stat.S_IMODE((data / "admin-token").stat().st_mode) == 0o600
    assert ensure_admin_token(data) == token == read_admin_token(data)
    assert read_admin_token(tmp_path / "elsewhere") is None


@pytest.mark.parametrize(
    "principal, document, expected",
    [
        (ADMIN, doc("AuthorizationPolicy", "bank"), True),
        (SHOP, doc("AuthorizationPolicy", "shop"), True),
        (SHOP, doc("AuthorizationPolicy", "bank"), False),
        (SHOP, doc("PeerAuthentication", "istio-system"), True),
        (SHOP, doc("ServiceAccount", "bank"), False),
        (SHOP, doc("VirtualService", "bank"), True),
        (SHOP, doc("ServiceEntry", "bank", ["."]), False),
        (SHOP, doc("ServiceEntry", "bank", ["shop"]), True),
        (SHOP, doc("DestinationRule", "bank", ["*"]), True),
        (SHOP, doc("WorkloadEntry", "bank"), True),
    ],
)
def test_visibility(principal: Principal, document: dict[str, Any], expected: bool) -> None:
    assert visible(principal, document) is expected


def test_join_tokens_act_for_their_namespace_and_service_account_only() -> None:
    SHOP.require_workload("shop", "anything")
    CART.require_workload("shop", "cart")
    ADMIN.require_workload("bank", None)
    for principal, namespace, account in (
        (SHOP, "bank", None),
        (CART, "shop", "orders"),
        (CART, "shop", None),
    ):
        with pytest.raises(Denied) as info:
            principal.require_workload(namespace, account)
        assert info.value.status == 403
    with pytest.raises(Denied, match="admin token"):
        SHOP.require_admin()
    with pytest.raises(Denied):
        SHOP.require_read("AuthorizationPolicy", "bank")
    SHOP.require_read("VirtualService", "bank")
