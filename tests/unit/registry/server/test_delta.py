"""The push log and a watcher's delta: net change per key, compaction, the gap, and scope
filtering (a watcher never hears of a resource outside its scope)."""

from __future__ import annotations

from typing import Any

from inmesh.registry.server._auth import Principal
from inmesh.registry.server._delta import PushLog, delta
from inmesh.registry.server._scope import WatchScope, watch_scope
from inmesh.registry.store import ResourceKey, Token

SHOP = Principal(Token(id="join-1", role="join", created=0.0, namespace="shop"))
ADMIN = Principal(Token(id="admin-1", role="admin", created=0.0))


def se(name: str, namespace: str, version: int, export_to: list[str] | None = None) -> Any:
    spec: dict[str, Any] = {"hosts": [f"{name}.example"]}
    if export_to is not None:
        spec["exportTo"] = export_to
    return {
        "kind": "ServiceEntry",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": str(version)},
        "spec": spec,
    }


def k(name: str, namespace: str = "bank") -> ResourceKey:
    return ResourceKey("ServiceEntry", namespace, name)


def test_since_gives_each_key_before_and_after_over_the_range() -> None:
    log = PushLog()
    log.reset(1)
    a2, a3, b2 = se("a", "bank", 2), se("a", "bank", 3), se("b", "bank", 2)
    log.record(2, [(k("a"), None, a2), (k("b"), None, b2)])
    log.record(3, [(k("a"), a2, a3), (k("b"), b2, None)])
    assert log.since(1, 3) == {k("a"): (None, a3), k("b"): (None, None)}
    assert log.since(2, 3) == {k("a"): (a2, a3), k("b"): (b2, None)}
    assert log.since(1, 2) == {k("a"): (None, a2), k("b"): (None, b2)}  # an older publish
    assert log.since(3, 3) == {}


def test_gap_too_old_or_ahead_is_none() -> None:
    log = PushLog()
    log.reset(5)
    log.record(6, [(k("a"), None, se("a", "bank", 6))])
    assert log.since(4, 6) is None  # from before the hub started (or a compaction)
    assert log.since(7, 6) is None  # ahead of this publish
    assert log.since(5, 7) is None  # a publish the log never recorded


def test_compaction_drops_whole_revisions_and_moves_the_start() -> None:
    log = PushLog(max_entries=3)
    log.reset(0)
    log.record(1, [(k("a"), None, se("a", "bank", 1)), (k("b"), None, se("b", "bank", 1))])
    log.record(2, [(k("c"), None, se("c", "bank", 2))])
    assert (len(log), log.start) == (3, 0)
    log.record(3, [(k("d"), None, se("d", "bank", 3))])
    assert (len(log), log.start) == (2, 1)
    assert log.since(0, 3) is None
    spans = log.since(1, 3)
    assert spans is not None and set(spans) == {k("c"), k("d")}


def test_delta_updates_deletes_and_scope_filtering() -> None:
    scope = watch_scope(SHOP, {})
    public_old, public_new = se("pub", "bank", 1), se("pub", "bank", 2)
    private = se("priv", "bank", 2, ["."])
    hidden_now = se("was-public", "bank", 3, ["."])
    spans = {
        k("pub"): (public_old, public_new),  # update, visible
        k("priv"): (None, private),  # created, not exported to shop: never mentioned
        k("was-public"): (se("was-public", "bank", 1), hidden_now),  # no longer exported
        k("gone"): (se("gone", "bank", 1), None),  # deleted, was visible
        k("gone-private"): (se("gone-private", "bank", 1, ["."]), None),  # never visible
        k("mine", "shop"): (None, se("mine", "shop", 2, ["."])),  # own namespace
    }
    change = delta(spans, scope)
    assert change is not None
    assert [d["metadata"]["name"] for d in change.updated] == ["pub", "mine"]
    assert change.deleted == (k("was-public"), k("gone"))
    # the admin sees everything
    everything = delta(spans, watch_scope(ADMIN, {}))
    assert everything is not None
    assert len(everything.updated) == 4 and everything.deleted == (k("gone"), k("gone-private"))


def test_a_scope_that_depends_on_a_changed_resource_needs_a_full_snapshot() -> None:
    sidecar = ResourceKey("Sidecar", "shop", "default")
    scope = WatchScope("sidecar:1", lambda doc: True, lambda key: key == sidecar)
    assert delta({sidecar: (None, {"kind": "Sidecar"})}, scope) is None
    assert delta({k("a"): (None, se("a", "bank", 1))}, scope) is not None
