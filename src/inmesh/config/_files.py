"""Reading configuration files into raw documents: multi-document YAML and JSON.

YAML is read with PyYAML's safe loader, made stricter in one way Kubernetes is too: a
repeated key in a mapping is an error (PyYAML would silently keep the last value). Syntax
errors become :class:`ConfigProblem` naming the file and line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Any

import yaml

from inmesh._errors import ConfigProblem

__all__ = ["CONFIG_SUFFIXES", "expand_paths", "read_documents"]

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys, as Kubernetes' YAML decoder does."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Hashable, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue
            if key in first_line:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r} (first defined on line {first_line[key] + 1})",
                    key_node.start_mark,
                )
            first_line[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def expand_paths(paths: tuple[str | os.PathLike[str], ...]) -> Iterator[Path]:
    """Each path; a directory stands for its ``*.yaml``, ``*.yml``, ``*.json`` files, sorted."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(
                p for p in path.iterdir() if p.is_file() and p.suffix.lower() in CONFIG_SUFFIXES
            )
        else:
            yield path


def _yaml_documents(
    text: str, source: str, problems: list[ConfigProblem]
) -> list[tuple[int, object]]:
    documents: list[tuple[int, object]] = []
    try:
        for document in yaml.load_all(text, Loader=_StrictLoader):
            documents.append((len(documents) + 1, document))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown line"
        what = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        problems.append(
            ConfigProblem(
                f"YAML syntax error at {where}: {what}", file=source, document=len(documents) + 1
            )
        )
    except yaml.YAMLError as exc:
        problems.append(
            ConfigProblem(f"YAML error: {exc}", file=source, document=len(documents) + 1)
        )
    return documents


def _json_documents(
    text: str, source: str, problems: list[ConfigProblem]
) -> list[tuple[int, object]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.append(
            ConfigProblem(
                f"JSON syntax error at line {exc.lineno}, column {exc.colno}: {exc.msg}",
                file=source,
            )
        )
        return []
    if isinstance(data, list):  # a JSON array of objects: one document each
        return [(i + 1, item) for i, item in enumerate(data)]
    return [(1, data)]


def read_documents(path: Path, problems: list[ConfigProblem]) -> list[tuple[int, object]]:
    """The documents of one file as ``(document number, parsed value)``; empty ones included.

    Problems (unreadable file, syntax errors) are appended to ``problems``.
    """
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(ConfigProblem(f"cannot read configuration file: {exc}", file=source))
        return []
    if path.suffix.lower() == ".json":
        return _json_documents(text, source, problems)
    return _yaml_documents(text, source, problems)
