"""The one-pass YAML walk builds exactly what the strict SafeLoader builds, and hands
everything else (tags, merge keys, complex keys, odd anchors) to it."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from inmesh import ConfigError
from inmesh.config import _files as files
from inmesh.config import yaml_documents
from inmesh.config._yaml_events import NotPlain, walk_documents

ROOT = Path(__file__).resolve().parents[3]
LOADERS = [pytest.param(True, id="c"), pytest.param(False, id="python")]


def strict(text: str, prefer_c: bool = True) -> list[Any]:
    return list(yaml.load_all(text, Loader=files._loader(prefer_c)))


def walked(text: str, prefer_c: bool = True) -> list[object]:
    return walk_documents(files._loader(prefer_c), text, "t.yaml", build=True)


# Strings that YAML 1.1 resolves to other types when plain, and some that it does not.
_TRICKY = st.sampled_from(
    ["yes", "No", "on", "OFF", "~", "null", "", "0x1F", "0o17", "017", "1_000", "+1", "-0",
     ".inf", "-.Inf", ".nan", "1e3", "1.5", "2024-01-02", "2024-01-02T03:04:05Z", "12:30",
     "190:20:30", "=", "<<", "a: b", "- x", "#x", "'q'", "x\ny", " lead", "trail ", "é"]
)  # fmt: skip
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | _TRICKY
    | st.dates()
    | st.datetimes(timezones=st.just(datetime.timezone.utc))
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=6) | _TRICKY | st.integers(-5, 5), inner, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(docs=st.lists(_VALUES, min_size=1, max_size=3), flow=st.sampled_from([None, False, True]))
def test_walk_builds_what_safe_loader_builds(docs: list[Any], flow: bool | None) -> None:
    text = yaml.safe_dump_all(docs, default_flow_style=flow, allow_unicode=True)
    try:
        built = walked(text)
    except NotPlain:
        built = None  # e.g. '=' as a key: the strict loader reads it (or refuses it)
    try:
        expected: list[Any] | None = strict(text)
    except yaml.YAMLError:
        expected = None
    if built is not None:
        assert built == expected
        assert walked(text, prefer_c=False) == expected


@pytest.mark.parametrize("prefer_c", LOADERS)
def test_anchors_aliases_and_empty_documents(prefer_c: bool) -> None:
    text = "a: &x {k: [1, 2]}\nb: *x\nc: &s text\nd: *s\n---\n---\n- 1\n"
    docs = walked(text, prefer_c)
    assert docs == strict(text, prefer_c)
    assert docs[1] is None
    first: Any = docs[0]
    assert first["a"] is first["b"]  # one object, as SafeLoader shares it


@pytest.mark.parametrize(
    "text",
    [
        "a: !!str 123\n",  # an explicit tag
        "base: &b {x: 1}\nd:\n  <<: *b\n  y: 2\n",  # a merge key
        "? [a, b]\n: c\n",  # a collection as a key
        "a: &x 1\nb: &x 2\n",  # a duplicate anchor
        "a: &x [*x]\n",  # a recursive alias
        "a: 1\na: 2\n",  # a duplicate key
        "a: =\n",  # the 'value' tag SafeLoader does not construct
        "a: 2024-13-45\n",  # a timestamp its constructor refuses
    ],
)
def test_what_the_walk_leaves_to_the_strict_loader(text: str) -> None:
    with pytest.raises(NotPlain):
        walked(text)
    try:
        expected: Any = strict(text)
    except (yaml.YAMLError, ValueError) as exc:
        with pytest.raises((ConfigError, type(exc))):
            yaml_documents(text)
    else:
        assert repr(yaml_documents(text)) == repr(expected)  # repr: a recursive list


def test_bounds_are_checked_without_building() -> None:
    deep = "spec: " + "[" * (files.MAX_DEPTH + 1) + "]" * (files.MAX_DEPTH + 1)
    with pytest.raises(ConfigError, match="nests deeper"):
        walk_documents(files._loader(True), deep, "d.yaml", build=False)
    assert walk_documents(files._loader(True), "a: !!str 1\n", "t.yaml", build=False) == []


def test_syntax_errors_name_the_document_and_line() -> None:
    with pytest.raises(ConfigError) as err:
        walked("a: 1\n---\nb: [1, 2\n")
    [problem] = err.value.problems
    assert problem.document == 2 and "YAML syntax error at line" in problem.message


def test_istio_resources_are_built_in_one_pass() -> None:
    text = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop, labels: {app: reviews, version: "2"}}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {x-version: {exact: v1}}, uri: {prefix: /}}]
    route: [{destination: {host: reviews, subset: v1, port: {number: 9080}}, weight: 80}]
    timeout: 0.5s
    retries: {attempts: 3, perTryTimeout: 2s, retryOn: "5xx,reset"}
    mirrorPercentage: {value: 12.5}
    corsPolicy: {allowCredentials: true}
"""
    assert walked(text) == strict(text)


def _same_typed(a: Any, b: Any, where: str = "") -> None:
    """Equal, and of the same types all the way down (``1``, ``1.0`` and ``True`` differ)."""
    assert type(a) is type(b), where
    if isinstance(a, dict):
        assert list(a) == list(b), where
        for key in a:
            assert type(key) is type(next(k for k in b if k == key)), where
            _same_typed(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same_typed(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def _scale_file() -> str:
    """The synthetic mesh of the scale benchmarks (200 services, 1,200 documents)."""
    import importlib.util

    path = ROOT / "benchmarks" / "_scale_mesh.py"
    spec = importlib.util.spec_from_file_location("_scale_mesh", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text: str = module.mesh_yaml(200)
    return text


def test_examples_corpus_and_scale_file_read_as_libyaml_safe_loader_reads_them() -> None:
    paths = sorted(ROOT.glob("examples/**/*.yaml"))
    paths += sorted((ROOT.parent / "shared" / "conformance").glob("**/*.yaml"))
    texts = [(str(p), p.read_text(encoding="utf-8")) for p in paths]
    texts.append(("scale", _scale_file()))
    assert len(texts) > 10
    for name, text in texts:
        try:
            expected = list(yaml.load_all(text, Loader=yaml.CSafeLoader))
        except yaml.YAMLError:
            continue  # a deliberately broken file: the loaders' errors are tested elsewhere
        _same_typed(yaml_documents(text, source=name), expected, name)
