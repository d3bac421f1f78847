"""The documents ``inmesh apply -f`` and ``delete -f`` send, and where each came from.

The files are parsed here (syntax errors name file and line) but not validated: the
registry validates what an apply changes anyway, and its 400 answer gives each problem's
document index in the request, which :meth:`Input.problems` maps back to file, document
and, for an item of a ``kind: List``, its place in the list. So a bad file is still
refused whole with file, document, resource and field named, nothing is applied, and the
CLI neither imports the configuration models nor validates every document twice.

What ``load_config`` skips in a file is skipped here too, by the same rules: empty
documents, and documents of Kubernetes kinds the mesh does not use or of other
controllers' resources (``config._kinds.skip_reason``); a ``kind: List`` contributes its
items.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..._errors import ConfigError, ConfigProblem
from ...config._files import expand_paths, gc_paused, read_documents, yaml_documents
from ...config._kinds import (
    is_list_kind,
    list_without_items_message,
    not_a_mapping_message,
    skipped_in_files,
)
from ...config._loader import _text, claims

__all__ = ["Input", "Origin", "read_input"]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a document sent came from: the file, the document's number in it (from 1),
    and for an item of a ``kind: List`` the field path to it (``items[2]``)."""

    file: str
    document: int
    prefix: str = ""


@dataclass
class Input:
    """The documents to send, in order, and the origin of each (same length)."""

    docs: list[dict[str, Any]] = field(default_factory=list)
    origins: list[Origin] = field(default_factory=list)

    def add(self, doc: object, origin: Origin, problems: list[ConfigProblem]) -> None:
        """Add one parsed document (a list's items one by one; skipped kinds not at all)."""
        if doc is None:
            return  # an empty document, e.g. after a trailing '---'
        if not isinstance(doc, dict):
            problems.append(_problem(origin, {}, not_a_mapping_message(doc)))
            return
        kind = doc.get("kind")
        if is_list_kind(kind):
            items = doc.get("items")
            if not isinstance(items, list):
                problems.append(_problem(origin, doc, list_without_items_message(kind), "items"))
                return
            for i, item in enumerate(items):
                path = f"{origin.prefix}.items[{i}]" if origin.prefix else f"items[{i}]"
                self.add(item, Origin(origin.file, origin.document, path), problems)
            return
        if skipped_in_files(doc.get("apiVersion"), kind) is not None:
            return  # not a mesh resource: load_config skips it in a file, and so do we
        self.docs.append(doc)
        self.origins.append(origin)

    def problems(self, answer: Iterable[Mapping[str, Any]]) -> list[ConfigProblem]:
        """The registry's structured problems (``document`` = index in the request, from
        1) located in the files."""
        out: list[ConfigProblem] = []
        for p in answer:
            message = str(p.get("message", ""))
            index = p.get("document")
            if not isinstance(index, int) or not 1 <= index <= len(self.origins):
                out.append(ConfigProblem(message))
                continue
            out.append(
                _located(
                    self.origins[index - 1],
                    message,
                    at=str(p["field"]) if p.get("field") else "",
                    kind=_text(p.get("kind")),
                    namespace=_text(p.get("namespace")),
                    name=_text(p.get("name")),
                    code=str(p.get("code") or "IST0106"),
                )
            )
        return out


def _problem(origin: Origin, doc: Mapping[str, Any], message: str, at: str = "") -> ConfigProblem:
    """A problem of ``doc`` itself, found before it was sent."""
    kind, namespace, name = claims(doc)
    return _located(origin, message, at=at, kind=kind, namespace=namespace, name=name)


def _located(
    origin: Origin,
    message: str,
    *,
    at: str = "",
    kind: str | None = None,
    namespace: str | None = None,
    name: str | None = None,
    code: str = "IST0106",
) -> ConfigProblem:
    """``message`` at field ``at`` of the document ``origin`` names (its file, document
    and, for an item of a List, the item's path before ``at``)."""
    where = ".".join(p for p in (origin.prefix, at) if p)
    return ConfigProblem(
        message,
        file=origin.file,
        document=origin.document,
        kind=kind,
        namespace=namespace,
        name=name,
        field=where or None,
        code=code,
    )


def read_input(files: Sequence[str], stdin: str | None) -> Input:
    """The documents of ``stdin`` (if given) then of ``files`` (files or directories, as
    ``load_config`` reads them); raises :class:`ConfigError` with every syntax problem."""
    got = Input()
    problems: list[ConfigProblem] = []
    with gc_paused():  # thousands of small dicts, no cycles
        if stdin is not None:
            try:
                parsed = yaml_documents(stdin, source="<stdin>")
            except ConfigError as exc:
                problems.extend(exc.problems)
                parsed = []
            for number, doc in enumerate(parsed, start=1):
                got.add(doc, Origin("<stdin>", number), problems)
        for path in expand_paths(tuple(files)):
            for number, doc in read_documents(Path(path), problems):
                got.add(doc, Origin(str(path), number), problems)
    if problems:
        raise ConfigError(problems)
    return got
