"""Tokens, and what a join token may see and do."""

from __future__ import annotations

from typing import Any

import pytest

from inmesh.registry._errors import Denied
from inmesh.registry.server._auth import Principal, visible
from inmesh.registry.store import Token

ADMIN = Principal(Token(id="admin-1", role="admin", created=0.0))
SHOP = Principal(Token(id="join-1", role="join", created=0.0, namespace="shop"))
CART = Principal(
    Token(id="join-2", role="join", created=0.0, namespace="shop", service_account="cart")
)


def doc(kind: str, namespace: str, export_to: list[str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {} if export_to is None else {"exportTo": export_to}
    return {"kind": kind, "metadata": {"name": "x", "namespace": namespace}, "spec": spec}


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
