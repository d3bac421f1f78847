from __future__ import annotations

import pytest

from inmesh.security import SpiffeId


def test_forms() -> None:
    sid = SpiffeId.of("shop", "front")
    assert sid.uri == "spiffe://cluster.local/ns/shop/sa/front"
    assert sid.principal == "cluster.local/ns/shop/sa/front"
    assert str(sid) == sid.uri
    assert SpiffeId.parse(sid.uri) == sid
    assert SpiffeId.parse(sid.principal) == sid
    assert SpiffeId.of("a", "b", trust_domain="example.org").trust_domain == "example.org"


@pytest.mark.parametrize(
    "text",
    [
        "spiffe://cluster.local/ns/shop",
        "spiffe://cluster.local/ns/shop/sa/front/extra",
        "spiffe://cluster.local/namespace/shop/sa/front",
        "spiffe://Cluster.Local/ns/shop/sa/front",
        "spiffe://cluster.local/ns/../sa/front",
        "spiffe://cluster.local/ns/shop/sa/",
        "https://cluster.local/ns/shop/sa/front",
    ],
)
def test_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        SpiffeId.parse(text)
