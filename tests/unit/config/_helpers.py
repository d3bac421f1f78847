"""Helpers: write YAML snippets to real files, load them, and check where problems point."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from inmesh import ConfigError, ConfigProblem
from inmesh.config import Resource, load_config


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, name: str = "config.yaml") -> list[Resource]:
    return load_config(write(tmp_path, text, name))


def problems(tmp_path: Path, text: str, name: str = "config.yaml") -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text, name))
    return list(info.value.problems)


def assert_problem(
    tmp_path: Path,
    text: str,
    *,
    field: str,
    says: str,
    resource: str | None = None,
    document: int = 1,
    name: str = "config.yaml",
) -> ConfigProblem:
    """Loading ``text`` fails with a problem at ``field`` whose text names the file, the
    document, the resource and the field, and contains ``says``."""
    found = problems(tmp_path, text, name)
    at_field = [p for p in found if p.field == field]
    assert at_field, f"no problem at {field!r}; got:\n" + "\n".join(map(str, found))
    matching = [p for p in at_field if says in p.message]
    assert matching, f"no problem at {field!r} saying {says!r}; got:\n" + "\n".join(
        map(str, at_field)
    )
    problem = matching[0]
    rendered = str(problem)
    assert str(tmp_path / name) in rendered
    assert f"(document {document})" in rendered
    assert field in rendered
    if resource is not None:
        assert resource in rendered, rendered
    return problem
