"""The loader's compaction: resources rebuilt with shared values stay what pydantic made."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from inmesh.config import dump_resource, parse_documents
from inmesh.config._compact import Compactor, shared_fields_set
from inmesh.config._kinds import kind_class

ROOT = Path(__file__).resolve().parents[3]


def _corpus() -> list[dict[str, Any]]:
    """Every mesh resource of the examples (and the Istio corpus, when it is there)."""
    paths = sorted(ROOT.glob("examples/**/*.yaml"))
    paths += sorted((ROOT.parent / "shared" / "conformance").glob("**/*.yaml"))
    docs = []
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and kind_class(str(doc.get("kind"))) is not None:
                docs.append(doc)
    return docs


def _assert_same_tree(built: Any, plain: Any, where: str) -> None:
    """The same types, fields sets, extras and values, all the way down."""
    assert type(built) is type(plain), where
    if isinstance(plain, BaseModel):
        assert built.model_fields_set == plain.model_fields_set, where
        assert built.__pydantic_extra__ == plain.__pydantic_extra__, where
        for name in type(plain).model_fields:
            _assert_same_tree(getattr(built, name), getattr(plain, name), f"{where}.{name}")
    elif isinstance(plain, (tuple, list)):
        assert len(built) == len(plain), where
        for i, (a, b) in enumerate(zip(built, plain, strict=True)):
            _assert_same_tree(a, b, f"{where}[{i}]")
    elif isinstance(plain, dict):
        assert list(built) == list(plain), where
        for key in plain:
            _assert_same_tree(built[key], plain[key], f"{where}[{key!r}]")
    else:
        assert built == plain, where


def test_the_corpus_loads_to_the_same_models_pydantic_validates() -> None:
    docs = _corpus()
    assert len(docs) > 20
    loaded = parse_documents(docs)
    for doc, resource in zip(docs, loaded, strict=True):
        cls = kind_class(doc["kind"])
        assert cls is not None
        plain = cls.model_validate(doc)
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        _assert_same_tree(resource, plain, where)
        assert resource == plain, where
        assert dump_resource(resource) == dump_resource(plain), where  # type: ignore[arg-type]
        assert parse_documents([dump_resource(resource)]) == [resource], where


def _load(*docs: dict[str, Any]) -> list[Any]:
    """Resources typed loosely: these tests read VirtualService fields."""
    return list(parse_documents(docs))


def _vs(name: str, weight: Any = 80, extra_match: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": "ns", "labels": {"team": "a"}},
        "spec": {
            "hosts": ["reviews"],
            "http": [
                {
                    "match": [{"headers": {"end-user": {"exact": "jason"}}, **(extra_match or {})}],
                    "route": [{"destination": {"host": "reviews", "subset": "v2"}}],
                },
                {"route": [{"destination": {"host": "reviews", "subset": "v1"}, "weight": weight}]},
            ],
        },
    }


def test_equal_sub_messages_of_one_load_are_one_object() -> None:
    a, b = _load(_vs("a"), _vs("b"))
    assert a is not b and a.metadata is not b.metadata  # different names
    assert a.spec is b.spec  # the same spec: one object
    assert a.metadata.labels is b.metadata.labels


def test_values_that_compare_equal_but_differ_in_type_or_fields_set_stay_apart() -> None:
    a, b, c = _load(_vs("a", weight=100), _vs("b", extra_match={"ignoreUriCase": False}), _vs("c"))
    # ignoreUriCase: false set explicitly is not the same message as it left unset.
    assert a.spec.http[0].match[0] is not b.spec.http[0].match[0]
    assert "ignore_uri_case" in b.spec.http[0].match[0].model_fields_set
    assert "ignore_uri_case" not in c.spec.http[0].match[0].model_fields_set
    assert a.spec.http[1] is not c.spec.http[1]
    dumped = dump_resource(b)["spec"]["http"][0]["match"][0]
    assert dumped["ignoreUriCase"] is False


def test_one_true_and_one_point_zero_are_not_shared_in_any_mapping() -> None:
    docs = [_vs(name) for name in ("a", "b", "c")]
    for doc, value in zip(docs, (1, True, 1.0), strict=True):
        doc["status"] = {"observedGeneration": value}
    loaded = _load(*docs)
    kinds = [type(r.status["observedGeneration"]) for r in loaded]
    assert kinds == [int, bool, float]


def test_a_model_copy_does_not_change_the_shared_fields_set() -> None:
    a, b = _load(_vs("a"), _vs("b"))
    route = a.spec.http[1].route[0]
    shared = route.model_fields_set
    copied = route.model_copy(update={"headers": None})
    assert "headers" in copied.model_fields_set
    assert "headers" not in shared and "headers" not in b.spec.http[1].route[0].model_fields_set


def test_fields_sets_are_shared_process_wide() -> None:
    assert shared_fields_set({"a", "b"}) is shared_fields_set({"b", "a"})
    assert shared_fields_set({"a"}) is not shared_fields_set({"a", "b"})


def test_loads_do_not_share_with_each_other() -> None:
    (a,) = _load(_vs("a"))
    (b,) = _load(_vs("b"))
    assert a.spec == b.spec and a.spec is not b.spec


@pytest.mark.parametrize("weight", [80, 0])
def test_a_compacted_resource_is_a_new_object_equal_to_the_validated_one(weight: int) -> None:
    cls = kind_class("VirtualService")
    assert cls is not None
    plain = cls.model_validate(_vs("a", weight=weight))
    built = Compactor().resource(plain)
    assert built is not plain
    assert built == plain
    _assert_same_tree(built, plain, "VirtualService/a")


def test_the_origin_needs_no_private_dict_and_survives_copies() -> None:
    (a,) = parse_documents([_vs("a")], source="mesh.yaml")
    assert a.origin == ("mesh.yaml", 1)
    assert a.__pydantic_private__ is None
    assert a.model_copy().origin == ("mesh.yaml", 1)
    assert copy.deepcopy(a).origin == ("mesh.yaml", 1)
    cls = kind_class("VirtualService")
    assert cls is not None
    assert cls.model_validate(_vs("b")).origin == (None, None)  # type: ignore[attr-defined]


def test_strings_are_the_loads_own_copies_one_per_distinct_string() -> None:
    docs = [_vs("a"), _vs("b")]
    a, b = _load(*docs)
    host = a.spec.hosts[0]
    assert host == "reviews" and host is not docs[0]["spec"]["hosts"][0]
    assert a.metadata.name is not docs[0]["metadata"]["name"]
    assert a.metadata.namespace is b.metadata.namespace
    assert a.spec.http[0].route[0].destination.host is host


def test_compact_false_returns_what_pydantic_validated() -> None:
    docs = [_vs("a"), _vs("b")]
    a, b = list[Any](parse_documents(docs, source="mesh.yaml", compact=False))
    assert a.spec == b.spec and a.spec is not b.spec
    assert a.metadata.name is docs[0]["metadata"]["name"]
    assert a.origin == ("mesh.yaml", 1)


def test_extra_fields_of_kubernetes_objects_are_kept_and_not_shared() -> None:
    docs = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": f"svc-{i}", "namespace": "ns"},
            "spec": {"ports": [{"port": 80}], "selector": {"app": "a"}, f"custom{i}": True},
        }
        for i in range(2)
    ]
    a, b = _load(*docs)
    assert a.spec.model_extra == {"custom0": True}
    assert b.spec.model_extra == {"custom1": True}
    assert "custom0" in a.spec.model_fields_set
    assert a.spec.model_fields_set is not shared_fields_set(a.spec.model_fields_set)
    assert dump_resource(a)["spec"]["custom0"] is True


def test_equal_durations_are_one_object_so_their_routes_are_shared() -> None:
    docs = [_vs(name) for name in ("a", "b")]
    for doc in docs:
        doc["spec"]["http"][1]["timeout"] = "5s"
        doc["spec"]["http"][1]["retries"] = {"attempts": 2, "perTryTimeout": "2s"}
    a, b = _load(*docs)
    assert a.spec.http[1].timeout == 5.0
    assert a.spec.http[1].retries is b.spec.http[1].retries
    assert a.spec is b.spec
