"""Mesh mTLS towards a cluster: explicit ISTIO_MUTUAL, Istio's auto mTLS, accepted identities."""

from __future__ import annotations

from types import SimpleNamespace

from inmesh.balancing import Endpoint
from inmesh.routing._mtls import mesh_mtls

LABEL = {"security.istio.io/tlsMode": "istio"}


def mtls(mode: str | None, *endpoints: Endpoint, sans: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    return mesh_mtls(
        tls=SimpleNamespace(mode=mode) if mode else None,
        endpoints=endpoints,
        namespace="shop",
        subject_alt_names=sans,
        trust_domain="example.org",
        port=9080,
        subset="v1",
        host="reviews.shop.svc.cluster.local",
    )


def test_istio_mutual_applies_to_every_endpoint_with_istios_sni() -> None:
    m = mtls("ISTIO_MUTUAL", Endpoint("10.0.0.1", 80, service_account="reviews"))
    assert m is not None and m.explicit and m.applies_to("10.0.0.9:80")
    assert m.sni == "outbound_.9080_.v1_.reviews.shop.svc.cluster.local"
    assert m.identities == {"spiffe://example.org/ns/shop/sa/reviews"}


def test_auto_mtls_only_for_labelled_endpoints() -> None:
    a = Endpoint("10.0.0.1", 80, labels=LABEL)
    b = Endpoint("10.0.0.2", 80)
    m = mtls(None, a, b)
    assert m is not None and not m.explicit
    assert m.applies_to(a.key) and not m.applies_to(b.key)
    assert mtls(None, b) is None  # nobody can take mTLS: plaintext, no setting at all


def test_other_modes_are_not_mesh_mtls() -> None:
    ep = Endpoint("10.0.0.1", 80, labels=LABEL)
    for mode in ("DISABLE", "SIMPLE", "MUTUAL"):
        assert mtls(mode, ep) is None


def test_identities_from_service_accounts_and_subject_alt_names() -> None:
    m = mtls(
        "ISTIO_MUTUAL",
        Endpoint("10.0.0.1", 80, service_account="a"),
        Endpoint("10.0.0.2", 80),  # no service account: adds nothing
        sans=("spiffe://example.org/ns/other/sa/b", "example.org/ns/x/sa/c"),
    )
    assert m is not None and m.identities == {
        "spiffe://example.org/ns/shop/sa/a",
        "spiffe://example.org/ns/other/sa/b",
        "spiffe://example.org/ns/x/sa/c",
    }
    assert mtls("ISTIO_MUTUAL", Endpoint("10.0.0.1", 80)).identities == frozenset()  # any
