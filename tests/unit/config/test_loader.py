"""The loader: files, documents, kinds, collected problems, dumping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from inmesh import ConfigError
from inmesh.config import (
    DestinationRule,
    VirtualService,
    dump_resource,
    load_config,
    parse_documents,
)

from ._helpers import load, problems, write

VS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 90}
    - {destination: {host: reviews, subset: v2}, weight: 10}
    timeout: 0.5s
"""
DR = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: bookinfo}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
"""


def test_multi_document_yaml_skips_empty_documents(tmp_path: Path) -> None:
    resources = load(tmp_path, "---\n" + VS + "---\n---\n" + DR + "---\n")
    assert [type(r) for r in resources] == [VirtualService, DestinationRule]


def test_document_numbers_count_empty_documents(tmp_path: Path) -> None:
    bad = DR.replace("name: v2", "name: v1")
    found = problems(tmp_path, VS + "---\n---\n" + bad)
    assert [(p.document, p.field) for p in found] == [(3, "spec.subsets[1].name")]


def test_every_problem_of_every_document_and_file_is_reported(tmp_path: Path) -> None:
    first = write(
        tmp_path,
        VS.replace("weight: 10", "weight: -10")
        + "---\n"
        + DR.replace("host: reviews", "host: 're views'"),
        "a.yaml",
    )
    second = write(tmp_path, VS.replace("hosts:", "hostz:"), "b.yaml")
    with pytest.raises(ConfigError) as info:
        load_config(first, second)
    found = [(Path(p.file or "").name, p.document, p.kind, p.field) for p in info.value.problems]
    assert found == [
        ("a.yaml", 1, "VirtualService", "spec.http[0].route[1].weight"),
        ("a.yaml", 2, "DestinationRule", "spec.host"),
        ("b.yaml", 1, "VirtualService", "spec.hostz"),
    ]
    text = str(info.value)
    assert "a.yaml (document 2): DestinationRule bookinfo/reviews: spec.host:" in text


def test_nothing_is_returned_when_any_document_fails(tmp_path: Path) -> None:
    good, bad = write(tmp_path, VS, "good.yaml"), write(tmp_path, "kind: Nope\n", "bad.yaml")
    with pytest.raises(ConfigError):
        load_config(good, bad)


def test_unknown_kind_and_api_version(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "apiVersion: v1\nkind: ConfigMapp\nmetadata: {name: x}\n---\n"
        + VS.replace("networking.istio.io/v1", "networking.istio.io/v2")
        + "---\nmetadata: {name: y}\n",
    )
    assert [(p.document, p.field) for p in found] == [(1, "kind"), (2, "apiVersion"), (3, "kind")]
    assert "unknown kind 'ConfigMapp'" in found[0].message
    assert "VirtualService" in found[0].message
    assert "expected one of networking.istio.io/v1" in found[1].message
    assert "kind is required" in found[2].message


def test_documents_must_be_mappings(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, "- a\n- b\n")
    assert "expected a mapping" in problem.message and problem.document == 1


def test_yaml_syntax_errors_name_file_and_line(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, VS + "---\nkind: a: b\n")  # VS is 10 lines, then "---"
    assert problem.document == 2
    assert "YAML syntax error at line 12, column 8" in problem.message
    assert str(tmp_path / "config.yaml") in str(problem)


def test_duplicate_keys_are_errors(tmp_path: Path) -> None:
    [problem] = problems(
        tmp_path, "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  name: b\n"
    )
    assert "duplicate key 'name'" in problem.message and "line 5" in problem.message


def test_json_files_lists_and_arrays(tmp_path: Path) -> None:
    vs, dr = yaml.safe_load(VS), yaml.safe_load(DR)
    one = write(tmp_path, json.dumps(vs), "one.json")
    array = write(tmp_path, json.dumps([vs, dr]), "array.json")
    listed = write(
        tmp_path, json.dumps({"apiVersion": "v1", "kind": "List", "items": [dr]}), "list.json"
    )
    assert [r.kind for r in load_config(one, array, listed)] == [
        "VirtualService",
        "VirtualService",
        "DestinationRule",
        "DestinationRule",
    ]


def test_list_items_are_located_by_index(tmp_path: Path) -> None:
    doc = {
        "apiVersion": "v1",
        "kind": "VirtualServiceList",
        "items": [yaml.safe_load(VS), {"kind": "VirtualService"}],
    }
    with pytest.raises(ConfigError) as info:
        parse_documents([doc], source="cluster")
    fields = {p.field for p in info.value.problems}
    assert {"items[1].apiVersion"} <= fields
    assert all(p.file == "cluster" and p.document == 1 for p in info.value.problems)


def test_json_syntax_errors_name_the_line(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, '{"kind":\n  "VirtualService",,}', "bad.json")
    assert "JSON syntax error at line 2" in problem.message


def test_directories_load_their_config_files_in_name_order(tmp_path: Path) -> None:
    write(tmp_path, DR, "b.yaml")
    write(tmp_path, VS, "a.yml")
    write(tmp_path, "not config", "notes.txt")
    assert [r.kind for r in load_config(tmp_path)] == ["VirtualService", "DestinationRule"]


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read configuration file"):
        load_config(tmp_path / "missing.yaml")


def test_parse_documents_accepts_dicts_and_models() -> None:
    [vs] = parse_documents([yaml.safe_load(VS)])
    again = parse_documents([None, vs, yaml.safe_load(DR)])
    assert again[0] is vs and isinstance(again[1], DestinationRule)


def test_parse_documents_reports_its_source() -> None:
    with pytest.raises(ConfigError) as info:
        parse_documents([{"apiVersion": "v1", "kind": "Service"}], source="inline")
    [problem] = info.value.problems
    assert (problem.file, problem.document, problem.field) == ("inline", 1, "metadata")


def test_dump_round_trips(tmp_path: Path) -> None:
    resources = load(tmp_path, VS + "---\n" + DR)
    dumped = [dump_resource(r) for r in resources]
    assert dumped[0]["spec"]["http"][0]["timeout"] == "0.5s"
    assert dumped[0]["spec"]["http"][0]["route"][0] == {
        "destination": {"host": "reviews", "subset": "v1"},
        "weight": 90,
    }
    assert list(dumped[1]) == ["apiVersion", "kind", "metadata", "spec"]
    assert parse_documents(dumped) == resources
    assert parse_documents([json.loads(json.dumps(d)) for d in dumped]) == resources


def test_dump_of_python_built_resources_includes_kind() -> None:
    from inmesh.config import Destination as Dest
    from inmesh.config import HTTPRoute, HTTPRouteDestination, ObjectMeta, VirtualServiceSpec

    vs = VirtualService(
        metadata=ObjectMeta(name="r"),
        spec=VirtualServiceSpec(
            hosts=("r",),
            http=(HTTPRoute(route=(HTTPRouteDestination(destination=Dest(host="r")),), timeout=2),),
        ),
    )
    dumped = dump_resource(vs)
    assert (dumped["apiVersion"], dumped["kind"]) == ("networking.istio.io/v1", "VirtualService")
    assert dumped["spec"]["http"][0]["timeout"] == "2s"
    assert parse_documents([dumped]) == [vs]
