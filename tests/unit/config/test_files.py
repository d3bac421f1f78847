"""Configuration text into documents: the C and pure-Python loaders agree, duplicate keys
are refused, and size, depth and alias expansion are bounded (a ConfigError naming the file
and document, never a RecursionError or a crash)."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest
import yaml

from inmesh import ConfigError
from inmesh.analysis import analyze_files
from inmesh.config import _files as files
from inmesh.config import load_config, yaml_documents

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "conformance" / "istio-bookinfo"
HAS_C = hasattr(yaml, "CSafeLoader")
LOADERS = [pytest.param(True, id="c"), pytest.param(False, id="python")]

VARIED = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, labels: {app: reviews, "version": v1}}
spec:
  hosts: [reviews, "reviews.shop.svc.cluster.local"]
  http:
  - name: jason
    match: &m
    - headers: {end-user: {exact: jason}}
      uri: {prefix: /reviews}
    route:
    - destination: {host: reviews, subset: v2, port: {number: 9080}}
      weight: 90
    timeout: 0.5s
    retries: {attempts: 3, retryOn: "5xx,reset"}
  - match: *m
    route: [{destination: {host: reviews}}]
    mirrorPercentage: {value: 12.5}
---
# an empty document
---
base: &base {a: 1, b: [true, false, null, ~, 1e3, 0x1F, "07", 2024-01-02]}
derived:
  <<: *base
  b: overridden
multiline: |
  line one
  line two
folded: >
  folded
  text
"""


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_both_loaders_read_the_same_documents() -> None:
    assert HAS_C, "PyYAML's C loader is expected in the test environment"
    c = yaml_documents(VARIED, source="v.yaml", prefer_c=True)
    py = yaml_documents(VARIED, source="v.yaml", prefer_c=False)
    assert c == py
    assert c[1] is None  # the empty document keeps its number
    assert c[2]["derived"] == {"a": 1, "b": "overridden"}
    assert c == list(yaml.safe_load_all(VARIED))  # what PyYAML's own safe loader reads


def test_both_loaders_read_the_bookinfo_corpus_alike() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"the Bookinfo conformance corpus is not at {CORPUS}")
    for path in sorted(CORPUS.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        c = yaml_documents(text, source=str(path), prefer_c=True)
        assert c == yaml_documents(text, source=str(path), prefer_c=False), path


@pytest.mark.parametrize("prefer_c", LOADERS)
def test_duplicate_keys_are_refused_by_both_loaders(prefer_c: bool) -> None:
    text = "a: 1\n---\nkind: X\nspec:\n  hosts: [a]\n  hosts: [b]\n"
    with pytest.raises(ConfigError) as err:
        yaml_documents(text, source="dup.yaml", prefer_c=prefer_c)
    [problem] = err.value.problems
    assert problem.file == "dup.yaml" and problem.document == 2
    assert "duplicate key 'hosts' (first defined on line 5)" in problem.message
    assert "line 6" in problem.message


@pytest.mark.parametrize("prefer_c", LOADERS)
@pytest.mark.parametrize("depth", [500, 200_000])
def test_deep_nesting_is_a_config_error(prefer_c: bool, depth: int) -> None:
    # 200 000 levels overflow libyaml's recursive composer (a segfault) if it is reached
    text = "kind: VirtualService\n---\nspec: " + nested(depth) + "\n"
    with pytest.raises(ConfigError) as err:
        yaml_documents(text, source="deep.yaml", prefer_c=prefer_c)
    [problem] = err.value.problems
    assert (problem.file, problem.document) == ("deep.yaml", 2)
    assert f"nests deeper than {files.MAX_DEPTH} levels" in problem.message


@pytest.mark.parametrize("prefer_c", LOADERS)
def test_depth_bound_is_exact(prefer_c: bool) -> None:
    # the document's top mapping is level 1, so spec may hold MAX_DEPTH - 1 levels
    ok = "spec: " + nested(files.MAX_DEPTH - 1)
    assert yaml_documents(ok, prefer_c=prefer_c)
    with pytest.raises(ConfigError):
        yaml_documents("spec: " + nested(files.MAX_DEPTH), prefer_c=prefer_c)


@pytest.mark.parametrize("prefer_c", LOADERS)
def test_aliases_count_towards_depth_and_size(prefer_c: bool) -> None:
    laughs = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        laughs.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    with pytest.raises(ConfigError) as err:
        yaml_documents("\n".join(laughs), source="lol.yaml", prefer_c=prefer_c)
    assert f"more than {files.MAX_NODES} nodes" in str(err.value)
    deep = "a: &a " + nested(60) + "\nb: [[[[[[*a]]]]]]\nc: " + nested(20)
    assert yaml_documents(deep.replace("[[[[[[*a]]]]]]", "*a"), prefer_c=prefer_c)
    deep = "a: &a " + nested(60) + "\nb: " + "[" * 50 + "*a" + "]" * 50
    with pytest.raises(ConfigError, match="nests deeper"):
        yaml_documents(deep, prefer_c=prefer_c)


def test_text_size_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "MAX_TEXT_CHARS", 10)
    with pytest.raises(ConfigError, match="larger than 10 characters") as err:
        yaml_documents("a: 12345678901", source="big.yaml")
    assert err.value.problems[0].file == "big.yaml"


def test_json_documents_and_bounds() -> None:
    assert yaml_documents('[{"a": 1}, {"b": 2}]', syntax="json") == [{"a": 1}, {"b": 2}]
    assert yaml_documents('{"a": [1]}', syntax="json") == [{"a": [1]}]
    for depth in (files.MAX_DEPTH + 1, 200_000):
        text = json.dumps({"spec": 0}).replace("0", nested(depth))
        with pytest.raises(ConfigError, match="nests deeper") as err:
            yaml_documents(text, syntax="json", source="deep.json")
        assert err.value.problems[0].file == "deep.json"
    with pytest.raises(ConfigError, match="JSON syntax error at line 1"):
        yaml_documents("{nope", syntax="json")
    with pytest.raises(ConfigError, match="JSON error: duplicate key 'hosts'"):
        yaml_documents('{"spec": {"hosts": ["a"], "hosts": ["b"]}}', syntax="json")


def test_load_config_and_analyze_report_deep_files(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("apiVersion: networking.istio.io/v1\nspec: " + nested(500) + "\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and "(document 1)" in str(err.value)
    [message] = analyze_files([path])
    assert message.level == "Error" and "nests deeper" in message.details
    deep_json = tmp_path / "deep.json"
    deep_json.write_text(nested(5000))
    [message] = analyze_files([deep_json])
    assert message.level == "Error" and "nests deeper" in message.details


@pytest.mark.parametrize("prefer_c", LOADERS)
def test_flow_scalars_with_colons_are_read_as_kubernetes_reads_them(prefer_c: bool) -> None:
    # go-yaml ends a plain scalar at ':' only before a blank, also inside [...] and {...}:
    # an unquoted IPv6 address in a flow list is a string (PyYAML alone reads a mapping).
    text = "addresses: [1.2.3.4, 001:db8::]\nmore: [x:, 'y']\nspaced: [k: v]\n"
    assert yaml_documents(text, prefer_c=prefer_c) == [
        {"addresses": ["1.2.3.4", "001:db8::"], "more": ["x:", "y"], "spaced": [{"k": "v"}]}
    ]


@pytest.mark.parametrize("prefer_c", LOADERS)
def test_block_scalar_before_a_colon_is_still_a_mapping(prefer_c: bool) -> None:
    # Outside a flow collection go-yaml reads "- 001:db8::" as a mapping too (':' then end
    # of line): nothing changes there.
    assert yaml_documents("a:\n- 001:db8::\n", prefer_c=prefer_c) == [{"a": [{"001:db8:": None}]}]


def test_service_entry_with_an_unquoted_ipv6_address(tmp_path: Path) -> None:
    path = tmp_path / "se.yaml"
    path.write_text(
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: se}\n"
        "spec:\n  hosts: [example.com]\n  addresses: [1.2.3.4, 001:db8::]\n"
        "  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: STATIC\n"
        "  endpoints: [{address: 1.2.3.4}]\n",
        encoding="utf-8",
    )
    [se] = load_config(path)
    assert list(se.spec.addresses or ()) == ["1.2.3.4", "001:db8::"]


def test_a_big_pause_hands_its_objects_to_the_oldest_generation() -> None:
    assert gc.isenabled() and not gc.get_freeze_count()
    with files.gc_paused():
        assert not gc.isenabled()
        kept = [[i] for i in range(files.PROMOTE_AFTER + 10)]
        assert gc.get_count()[0] > files.PROMOTE_AFTER
    assert gc.isenabled()
    assert gc.get_count()[0] < 1000  # the young generation was handed over, not walked
    assert gc.get_freeze_count() == 0  # nothing left frozen
    assert all(gc.is_tracked(x) for x in kept[:3])


def test_a_pause_does_not_release_objects_someone_else_froze() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with files.gc_paused():
            kept = [[i] for i in range(files.PROMOTE_AFTER + 10)]
        assert gc.get_freeze_count() == frozen
        assert len(kept) == files.PROMOTE_AFTER + 10
    finally:
        gc.unfreeze()
