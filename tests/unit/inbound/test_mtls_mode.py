"""PeerAuthentication resolution (Istio's ComposePeerAuthentication), without sockets."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from inmesh.config import parse_documents
from inmesh.inbound import MtlsPolicy, resolve_mtls

LABELS = {"app": "payments", "version": "v1"}


def pa(
    name: str,
    namespace: str,
    mode: str | None = None,
    *,
    selector: dict[str, str] | None = None,
    ports: dict[int, str | None] | None = None,
    created: str | None = None,
) -> Any:
    spec: dict[str, Any] = {}
    if mode is not None:
        spec["mtls"] = {"mode": mode}
    if selector is not None:
        spec["selector"] = {"matchLabels": selector}
    if ports is not None:
        spec["portLevelMtls"] = {p: ({"mode": m} if m else {}) for p, m in ports.items()}
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if created is not None:
        metadata["creationTimestamp"] = created
    doc = {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": metadata,
        "spec": spec,
    }
    return parse_documents([yaml.safe_load(yaml.safe_dump(doc))])[0]


def resolve(*resources: Any, labels: dict[str, str] = LABELS) -> MtlsPolicy:
    return resolve_mtls(resources, namespace="shop", labels=labels)


def test_default_is_permissive() -> None:
    assert resolve() == MtlsPolicy("PERMISSIVE", {}, None)


def test_workload_beats_namespace_beats_mesh() -> None:
    mesh = pa("mesh", "istio-system", "STRICT")
    ns = pa("ns", "shop", "DISABLE")
    wl = pa("wl", "shop", "PERMISSIVE", selector={"app": "payments"})
    assert resolve(mesh).mode == "STRICT"
    assert resolve(mesh, ns).mode == "DISABLE"
    resolved = resolve(mesh, ns, wl)
    assert (resolved.mode, resolved.policy) == ("PERMISSIVE", "shop/wl")


@pytest.mark.parametrize("unset", [None, "UNSET"])
def test_unset_inherits_from_the_level_above(unset: str | None) -> None:
    mesh = pa("mesh", "istio-system", "STRICT")
    ns = pa("ns", "shop", unset)
    wl = pa("wl", "shop", unset, selector={"app": "payments"})
    assert resolve(mesh, ns, wl) == MtlsPolicy("STRICT", {}, "istio-system/mesh")


def test_selector_must_match_and_other_namespaces_do_not_apply() -> None:
    other_ns = pa("x", "elsewhere", "STRICT")
    other_app = pa("y", "shop", "STRICT", selector={"app": "reviews"})
    assert resolve(other_ns, other_app).mode == "PERMISSIVE"


def test_a_selector_in_the_root_namespace_is_ignored() -> None:
    root_selector = pa("r", "istio-system", "STRICT", selector={"app": "payments"})
    assert resolve(root_selector).mode == "PERMISSIVE"


def test_the_oldest_policy_wins_at_each_level() -> None:
    newer = pa("a-newer", "shop", "STRICT", created="2024-02-01T00:00:00Z")
    older = pa("z-older", "shop", "DISABLE", created="2024-01-01T00:00:00Z")
    assert resolve(newer, older).mode == "DISABLE"
    assert resolve(older, newer).mode == "DISABLE"
    w_new = pa("w1", "shop", "STRICT", selector={"app": "payments"}, created="2024-03-01T00:00:00Z")
    w_old = pa("w2", "shop", "DISABLE", selector={"version": "v1"}, created="2024-01-01T00:00:00Z")
    assert resolve(w_new, w_old).policy == "shop/w2"


def test_port_level_mtls_overrides_and_unset_ports_inherit() -> None:
    ns = pa("ns", "shop", "STRICT")
    wl = pa("wl", "shop", selector={"app": "payments"}, ports={8080: "DISABLE", 9090: None})
    resolved = resolve(ns, wl)
    assert resolved.mode_for(8080) == "DISABLE"
    assert resolved.mode_for(9090) == "STRICT"
    assert resolved.mode_for(7000) == "STRICT"
    assert resolved.mode_for(None) == "STRICT"


def test_other_kinds_are_skipped() -> None:
    policy = parse_documents(
        [
            {
                "apiVersion": "security.istio.io/v1",
                "kind": "AuthorizationPolicy",
                "metadata": {"name": "p", "namespace": "shop"},
                "spec": {},
            }
        ]
    )
    assert resolve(*policy).mode == "PERMISSIVE"
