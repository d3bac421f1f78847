"""A client that follows deltas holds the same view as one given the full snapshot of
each revision (a property test over random histories of creates, updates, deletes and
exportTo changes, seen from one namespace), and a delta that does not start at the
client's revision is refused in favour of a full snapshot."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from inmesh.registry.client import RegistryClient
from inmesh.registry.client._view import ViewBuilder
from inmesh.registry.server._auth import Principal
from inmesh.registry.server._delta import PushLog
from inmesh.registry.server._push import Published
from inmesh.registry.server._scope import watch_scope
from inmesh.registry.store import ResourceKey, Token

SCOPE = watch_scope(Principal(Token(id="j", role="join", created=0.0, namespace="shop")), {})
NAMES = ["a", "b", "c", "d"]
NAMESPACES = ["shop", "bank"]
EXPORTS: list[list[str] | None] = [None, ["."], ["shop"], ["*"]]
BAD = len(EXPORTS)  # a choice that makes the document one the client refuses


def document(kind: str, namespace: str, name: str, revision: int, export: int) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "resourceVersion": str(revision)}
    if kind == "WorkloadEntry":
        meta["annotations"] = {"inmesh.io/registered": "true"}
        spec: dict[str, Any] = {"address": "127.0.0.1", "labels": {"app": name}}
    else:
        spec = {
            "hosts": [f"{name}.{namespace}.example"],
            "ports": [{"number": 80 + revision, "name": "http"}],
        }
        if export != BAD and EXPORTS[export] is not None:
            spec["exportTo"] = EXPORTS[export]
    if export == BAD:
        spec["frobnicate"] = True
    return {"apiVersion": "networking.istio.io/v1", "kind": kind, "metadata": meta, "spec": spec}


#: one step of history: for some keys, a new version (with an exportTo choice) or a delete
step = st.dictionaries(
    st.tuples(
        st.sampled_from(["ServiceEntry", "WorkloadEntry"]),
        st.sampled_from(NAMESPACES),
        st.sampled_from(NAMES),
    ),
    st.one_of(st.none(), st.integers(0, BAD)),
    min_size=1,
    max_size=5,
)


def signature(view: Any) -> list[tuple[str, str, str, str]]:
    return [(r.kind, r.namespace, r.name, r.model_dump_json()) for r in view.resources]


@settings(max_examples=60, deadline=None)
@given(history=st.lists(step, min_size=1, max_size=8), skip=st.sets(st.integers(0, 7)))
def test_deltas_give_the_same_view_as_full_snapshots(
    history: list[dict[tuple[str, str, str], int | None]], skip: set[int]
) -> None:
    log = PushLog()
    log.reset(0)
    index: dict[ResourceKey, dict[str, Any]] = {}
    client = RegistryClient("http://registry.test")
    client._accept(json.loads(Published(revision=0, store_id="s", log=log).body(SCOPE)))
    for revision, changes in enumerate(history, start=1):
        diff = []
        for (kind, namespace, name), export in changes.items():
            key = ResourceKey(kind, namespace, name)
            before = index.get(key)
            if export is None:
                if before is not None:
                    del index[key]
                    diff.append((key, before, None))
            else:
                after = document(kind, namespace, name, revision, export)
                index[key] = after
                diff.append((key, before, after))
        log.record(revision, diff)
        published = Published(revision=revision, store_id="s", index=dict(index), log=log)
        if revision - 1 in skip:
            continue  # the client was away: its next answer covers several revisions
        assert client.view is not None
        answer = json.loads(published.body(SCOPE, client.view.revision))
        assert "resources" not in answer  # within the log: always a delta here
        client._accept(answer)
        full = ViewBuilder("http://registry.test").build(
            revision, json.loads(published.body(SCOPE))["resources"]
        )
        assert client.view.revision == revision
        assert signature(client.view) == signature(full)
        assert client.view.rejected == full.rejected
        visible = [d for d in index.values() if SCOPE.sees(d)]
        bad = [d for d in visible if "frobnicate" in d["spec"]]
        assert (len(full.resources), len(full.rejected)) == (len(visible) - len(bad), len(bad))


def test_a_delta_from_another_revision_is_refused_and_a_full_snapshot_asked_for() -> None:
    client = RegistryClient("http://registry.test")
    client._accept({"revision": 3, "store": "s", "full": True, "resources": []})
    assert client._store_id == "s"
    out = client._accept({"revision": 5, "store": "s", "since": 4, "updated": [], "deleted": []})
    assert out is None and client._store_id == ""  # the next poll starts afresh
    assert client.view is not None and client.view.revision == 3


def test_the_cache_file_holds_the_whole_view_after_deltas(tmp_path: Any) -> None:
    from inmesh.registry.client._cache import read_cache

    cache = tmp_path / "view.json"
    client = RegistryClient("http://registry.test", cache_file=cache)
    a, b = (document("ServiceEntry", "shop", n, 1, 0) for n in ("a", "b"))
    client._accept({"revision": 1, "store": "s", "full": True, "resources": [a, b]})
    c = document("ServiceEntry", "shop", "c", 2, 0)
    gone = {"kind": "ServiceEntry", "namespace": "shop", "name": "a"}
    client._accept({"revision": 2, "store": "s", "since": 1, "updated": [c], "deleted": [gone]})
    cached = read_cache(cache)
    assert cached is not None and (cached.store_id, cached.revision) == ("s", 2)
    assert [d["metadata"]["name"] for d in cached.documents] == ["b", "c"]
    # and a client restarted from it resumes at that revision (the registry sends a delta)
    again = RegistryClient("http://registry.test", cache_file=cache)
    view = again.load_cached()
    assert view is not None and [r.name for r in view.resources] == ["b", "c"]
    assert again._store_id == "s"
