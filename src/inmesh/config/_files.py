"""Turning configuration text into documents: multi-document YAML and JSON, bounded.

YAML is parsed by libyaml where PyYAML has it built (the pure-Python parser otherwise, with
identical results), and built into values in the same pass that checks the bounds
(:mod:`._yaml_events`); text that pass does not build (explicit tags, merge keys, ...) is
read by the strict ``SafeLoader``. Either way it is made stricter in one way Kubernetes is
too: a repeated key in a mapping is an error (PyYAML would silently keep the last value).
One parser for every way configuration comes in: files (``load_config``, ``inmesh
analyze``, ``inmesh apply``) and the registry's request bodies.

Input is bounded before it is built into objects, so that no file can crash or stall a
reader (libyaml's composer recurses in C, and a deeply nested file overflows its stack): at
most :data:`MAX_TEXT_CHARS` characters (checked on a file's size before it is read),
:data:`MAX_DEPTH` levels of nesting (Istio's deepest resources need about 15) and
:data:`MAX_NODES` nodes per document counting every alias expansion (a "billion laughs"
file is tiny but expands without bound). Every problem is a :class:`ConfigProblem` naming
the file, the document and, for syntax errors, the line.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import os
import re
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from inmesh._errors import ConfigError, ConfigProblem
from inmesh.config._yaml_events import (
    MAX_DEPTH,
    MAX_NODES,
    NotPlain,
    syntax_problem,
    walk_documents,
)

if TYPE_CHECKING:
    import yaml

__all__ = [
    "CONFIG_SUFFIXES",
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_TEXT_CHARS",
    "expand_paths",
    "gc_paused",
    "read_documents",
    "yaml_documents",
]

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
#: Characters a text may hold (a file: bytes, checked before it is read). A 40 MB file is
#: about 20,000 services of configuration; a registry bounds its request bodies lower.
MAX_TEXT_CHARS = 64 * 1024 * 1024


#: Objects left in the young generation by a pause past which they are handed to the oldest
#: generation at its end (see :func:`gc_paused`).
PROMOTE_AFTER = 100_000


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cycle collector paused while configuration is built: parsing and validating
    make millions of objects and no cycles, and every full collection walks all of them
    (half the validation time of a 10 MB file). Restored after, even on an error.

    A pause that left more than :data:`PROMOTE_AFTER` objects in the young generation
    hands them to the oldest one as it ends (``gc.freeze()`` then ``gc.unfreeze()``: two
    list splices), so that the next young collections do not walk them all again (0.2 s
    after loading a 5,000-service mesh); the next full collection still examines them.
    Not done when something else froze objects (a pre-fork server's ``gc.freeze()``),
    which ``unfreeze`` would release."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if gc.get_count()[0] > PROMOTE_AFTER and not gc.get_freeze_count():
            gc.freeze()
            gc.unfreeze()
        gc.enable()


def _construct_mapping(self: Any, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    """SafeConstructor.construct_mapping, rejecting duplicate keys as Kubernetes' YAML
    decoder does (PyYAML would silently keep the last value)."""
    import yaml

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
    mapping: dict[Any, Any] = yaml.constructor.SafeConstructor.construct_mapping(
        self, node, deep=deep
    )
    return mapping


_BLANKZ = "\0 \t\r\n\x85\u2028\u2029"
#: A ':' right before a flow indicator: read differently by Go's YAML (see _scan_plain).
_FLOW_COLON = re.compile(r":[,\[\]{}]")


def _scan_plain(self: Any) -> Any:
    """Scanner.scan_plain (PyYAML 6), reading a plain scalar in a flow collection as
    Kubernetes' YAML (go-yaml) does: a ':' ends it only before a blank, so ``[1.2.3.4,
    001:db8::]`` holds the string ``001:db8::`` (PyYAML reads ``{'001:db8:': None}``;
    libyaml refuses it). Only the flow-context condition differs from PyYAML's."""
    import yaml

    chunks: list[str] = []
    start_mark = self.get_mark()
    end_mark = start_mark
    indent = self.indent + 1
    spaces: list[str] = []
    while True:
        length = 0
        if self.peek() == "#":
            break
        while True:
            ch = self.peek(length)
            if (
                ch in _BLANKZ
                or (ch == ":" and self.peek(length + 1) in _BLANKZ)
                or (self.flow_level and ch in ",?[]{}")
            ):
                break
            length += 1
        if length == 0:
            break
        self.allow_simple_key = False
        chunks.extend(spaces)
        chunks.append(self.prefix(length))
        self.forward(length)
        end_mark = self.get_mark()
        spaces = self.scan_plain_spaces(indent, start_mark)
        if not spaces or self.peek() == "#" or (not self.flow_level and self.column < indent):
            break
    return yaml.ScalarToken("".join(chunks), True, start_mark, end_mark)


@functools.cache
def _loader(prefer_c: bool = True) -> Any:
    """The strict loader class (PyYAML is imported now, not with ``inmesh``): libyaml's C
    parser when it is built and ``prefer_c``, else the pure-Python one with go-yaml's
    reading of a ':' inside a flow collection (:func:`_scan_plain`)."""
    import yaml

    base = getattr(yaml, "CSafeLoader", None) if prefer_c else None
    if base is not None:
        return type("_StrictCLoader", (base,), {"construct_mapping": _construct_mapping})
    members = {"construct_mapping": _construct_mapping, "scan_plain": _scan_plain}
    return type("_StrictLoader", (yaml.SafeLoader,), members)


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


def _json_depth_ok(value: object) -> bool:
    """Whether ``value`` nests at most MAX_DEPTH levels (iteratively: no recursion)."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict):
            children: Any = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        if depth + 1 > MAX_DEPTH:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refusing a repeated key as the YAML loader does (Kubernetes' strict
    decoding refuses it too). Built by ``dict`` (in C); only a short dict is searched."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return out


def _json(text: str, source: str) -> list[object]:
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise ConfigError(
            [ConfigProblem(f"JSON error: duplicate key {exc.args[0]!r}", file=source)]
        ) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            [
                ConfigProblem(
                    f"JSON syntax error at line {exc.lineno}, column {exc.colno}: {exc.msg}",
                    file=source,
                )
            ]
        ) from None
    except RecursionError:
        data = None
        ok = False
    else:
        ok = _json_depth_ok(data)
    if not ok:
        raise ConfigError(
            [ConfigProblem(f"the document nests deeper than {MAX_DEPTH} levels", file=source)]
        )
    return list(data) if isinstance(data, list) else [data]  # an array: one document each


def yaml_documents(
    text: str,
    *,
    source: str = "<memory>",
    syntax: Literal["yaml", "json"] = "yaml",
    prefer_c: bool = True,
) -> list[object]:
    """The documents of YAML (multi-document) or JSON ``text``, empty YAML documents as
    ``None`` (so that document ``n`` is item ``n - 1``); a JSON array is one document per
    item. Raises :class:`ConfigError` naming ``source`` and the document for a syntax
    error, a duplicate key, or text beyond the bounds (size, depth, nodes).

    ``prefer_c=False`` forces the pure-Python parser (the result is the same). A plain
    scalar in a flow collection is read as Kubernetes' YAML reads it: ``[001:db8::]`` is
    a list of one string.
    """
    if len(text) > MAX_TEXT_CHARS:
        raise ConfigError(
            [ConfigProblem(f"the text is larger than {MAX_TEXT_CHARS} characters", file=source)]
        )
    if syntax == "json":
        with gc_paused():
            return _json(text, source)
    import yaml

    # A ':' before a flow indicator is where libyaml differs from go-yaml: such text is
    # read by the pure-Python parser, which reads it as Kubernetes does.
    loader = _loader(prefer_c and not _FLOW_COLON.search(text))
    try:
        with gc_paused():
            return walk_documents(loader, text, source, build=True)
    except NotPlain:
        pass  # something the one-pass walk does not build: the strict loader reads it
    walk_documents(loader, text, source, build=False)  # the bounds, before composing
    documents: list[object] = []
    try:
        for document in yaml.load_all(text, Loader=loader):
            documents.append(document)
    except yaml.YAMLError as exc:
        raise ConfigError([syntax_problem(exc, source, len(documents) + 1)]) from None
    return documents


def read_documents(path: Path, problems: list[ConfigProblem]) -> list[tuple[int, object]]:
    """The documents of one file as ``(document number, parsed value)``; empty ones included.

    Problems (unreadable file, syntax errors, bounds) are appended to ``problems``.
    """
    source = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_TEXT_CHARS:
            problems.append(
                ConfigProblem(f"the file is larger than {MAX_TEXT_CHARS} bytes", file=source)
            )
            return []
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(ConfigProblem(f"cannot read configuration file: {exc}", file=source))
        return []
    syntax: Literal["yaml", "json"] = "json" if path.suffix.lower() == ".json" else "yaml"
    try:
        documents = yaml_documents(text, source=source, syntax=syntax)
    except ConfigError as exc:
        problems.extend(exc.problems)
        return []
    return list(enumerate(documents, start=1))
