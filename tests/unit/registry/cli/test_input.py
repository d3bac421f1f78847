"""What ``inmesh apply -f`` sends: the files' documents, parsed but not validated, each
with its origin, and the registry's located problems mapped back to file and document."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from inmesh import ConfigError
from inmesh.registry.cli._input import Origin, read_input

VS = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: NAME, namespace: shop}
spec: {hosts: [NAME], http: [{route: [{destination: {host: NAME}}]}]}
"""


def test_documents_keep_their_origin_and_skipped_kinds_are_left_out(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    a.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n"
        + VS.replace("NAME", "one")
        + "---\n---\napiVersion: v1\nkind: List\nitems:\n- "
        + VS.replace("NAME", "two").replace("\n", "\n  ").rstrip()
        + "\n"
    )
    b = tmp_path / "b.json"
    b.write_text('[{"apiVersion": "networking.istio.io/v1", "kind": "Sidecar"}]')
    got = read_input([str(a), str(b)], stdin=VS.replace("NAME", "zero"))
    names = [d.get("metadata", {}).get("name") for d in got.docs]
    assert names == ["zero", "one", "two", None]  # Sidecar is the registry's to refuse
    assert got.origins == [
        Origin("<stdin>", 1),
        Origin(str(a), 2),
        Origin(str(a), 4, "items[0]"),
        Origin(str(b), 1),
    ]


def test_the_registrys_problems_are_named_by_file_document_and_item(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    a.write_text(VS.replace("NAME", "one") + "---\napiVersion: v1\nkind: List\nitems:\n- {}\n")
    got = read_input([str(a)], stdin=None)
    located = got.problems(
        [
            {"document": 2, "message": "kind is required", "field": "kind", "code": "IST0106"},
            {"document": 1, "message": "bad", "kind": "VirtualService", "namespace": "shop",
             "name": "one", "field": "spec.hosts[0]"},
            {"message": "IST0101 something about the whole mesh"},
            {"document": 9, "message": "out of range"},
        ]
    )  # fmt: skip
    assert [str(p) for p in located] == [
        f"{a} (document 2): items[0].kind: kind is required",
        f"{a} (document 1): VirtualService shop/one: spec.hosts[0]: bad",
        "IST0101 something about the whole mesh",
        "out of range",
    ]


def test_syntax_errors_and_non_mappings_are_found_here(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    a.write_text("- 1\n---\nkind: [\n")
    with pytest.raises(ConfigError) as info:
        read_input([str(a), str(tmp_path / "missing.yaml")], stdin=None)
    text = [str(p) for p in info.value.problems]
    assert len(text) == 2 and text[0].startswith(f"{a} (document 2)")
    assert "cannot read" in text[1]


def test_reading_input_imports_no_model() -> None:
    import subprocess

    probe = (
        "import sys; from inmesh.registry.cli._input import read_input; "
        "read_input([], stdin='kind: VirtualService\\n'); "
        "print(any(m.startswith(('pydantic', 'inmesh.config._virtual')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
