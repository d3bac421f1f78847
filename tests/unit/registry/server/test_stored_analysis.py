"""The registry's kept analysis: in step with the store across applies (changed, added,
removed resources; registered workloads), with the messages of a full analysis."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from inmesh.analysis import check
from inmesh.analysis._message import resource_label
from inmesh.config import parse_documents
from inmesh.registry._errors import BadRequest
from inmesh.registry.server._stored_analysis import StoredAnalysis
from inmesh.registry.server._validate import Validator, parse_body
from inmesh.registry.store import ResourceKey, StoredResource

from .test_validate import SE, vs

WE = """apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-1}
spec: {address: 10.0.0.1, labels: {app: reviews, version: v1}}
"""
DR = """apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
"""


def stored(text: str, version: int = 1) -> list[StoredResource]:
    out = []
    for doc in parse_body(text.encode()):
        (model,) = parse_documents([doc], compact=False)
        key = ResourceKey(model.kind, model.namespace, model.name)
        out.append(StoredResource(key=key, body=doc, version=version, created=0.0))
    return sorted(out, key=lambda s: (s.key.kind, s.key.namespace, s.key.name))


def model_of(item: StoredResource) -> Any:
    return parse_documents([dict(item.body)], compact=False)[0]


def full(items: list[StoredResource], changed: list[Any]) -> list[str]:
    combined = {(m.kind, m.namespace, m.name): m for m in map(model_of, items)}
    for r in changed:
        combined[(r.kind, r.namespace, r.name)] = r
    mine = {resource_label(r) for r in changed}
    return [m.format() for m in check(list(combined.values()), focus=mine) if m.resource in mine]


def kept(kept: StoredAnalysis, items: list[StoredResource], changed: list[Any]) -> list[str]:
    kept.sync([], items, model_of)
    return [m.format() for m in kept.check(changed, [], items)]


def test_kept_in_step_with_the_store_across_changes() -> None:
    analysis = StoredAnalysis({})
    (vs_a,) = parse_documents(parse_body(vs("a").encode()), compact=False)
    items = stored(SE + "---\n" + vs("b") + "---\n" + WE)
    assert kept(analysis, items, [vs_a]) == full(items, [vs_a])
    assert any("IST0109" in m for m in kept(analysis, items, [vs_a]))
    # the same keys, one changed in place (the in-order pass): vs b now routes elsewhere
    changed = [
        dataclasses.replace(s, body=parse_body(vs("b", "ratings").encode())[0], version=2)
        if s.key.kind == "VirtualService"
        else s
        for s in items
    ]
    assert kept(analysis, changed, [vs_a]) == full(changed, [vs_a])
    assert not any("IST0109" in m for m in kept(analysis, changed, [vs_a]))
    # a key removed and one added (the full pass)
    (dr,) = parse_documents(parse_body(DR.encode()), compact=False)
    fewer = [s for s in changed if s.key.kind != "WorkloadEntry"]
    assert kept(analysis, fewer, [dr]) == full(fewer, [dr])
    assert [m.split("]")[0] for m in kept(analysis, fewer, [dr])] == []  # no workloads known
    more = stored(SE + "---\n" + WE + "---\n" + vs("b"), version=3)
    assert kept(analysis, more, [dr]) == full(more, [dr])
    assert [m.split("]")[0] for m in kept(analysis, more, [dr])] == ["Error [IST0173"]
    # the check leaves the kept index as the store has it
    assert set(analysis.analysis.resources) == {(s.key.kind, "default", s.key.name) for s in more}


def test_a_registered_workload_counts_unless_a_stored_one_has_its_key() -> None:
    analysis = StoredAnalysis({})
    (dr,) = parse_documents(parse_body(DR.encode()), compact=False)
    items = stored(SE)
    registered = stored(WE)
    analysis.sync(registered, items, model_of)
    found = [m.format() for m in analysis.check([dr], registered, items)]
    assert [m.split("]")[0] for m in found] == ["Error [IST0173"]  # v2 selects nothing
    v2 = stored(WE.replace("version: v1", "version: v2"), version=5)
    analysis.sync(registered, [*items, *v2], model_of)  # stored under the same key: wins
    assert [m.format() for m in analysis.check([dr], registered, [*items, *v2])] == [
        f.replace("v2 defined", "v1 defined") for f in found
    ]


def test_validator_apply_messages_equal_the_full_analysis() -> None:
    validator = Validator()
    items = stored(SE + "---\n" + vs("b") + "---\n" + WE + "---\n" + DR)
    # warnings only: a VirtualService to an unknown host (IST0101, deferred)
    docs = parse_body(vs("c", "ratings").encode())
    checked = validator.check_apply(docs, None, items)
    expected = full(items, parse_documents(docs, compact=False))
    assert expected and checked.warnings == [
        m.replace("Error [IST0101]", "Warning [IST0101]") for m in expected
    ]
    # a blocking error (IST0109 with the stored b): refused with the full analysis's errors
    docs = parse_body(vs("a").encode())
    with pytest.raises(BadRequest) as refused:
        validator.check_apply(docs, None, items)
    errors = [m for m in full(items, parse_documents(docs, compact=False)) if "IST0109" in m]
    assert errors and refused.value.messages == errors
