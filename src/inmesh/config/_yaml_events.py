"""YAML text into Python values in one pass over the parser's events, bounds included.

The parser (libyaml's, or PyYAML's own) hands out events one at a time and never
recurses, so walking them is how the bounds are checked before anything could overflow a
stack: :data:`MAX_DEPTH` levels, :data:`MAX_NODES` nodes per document counting every alias
expansion. :func:`walk_documents` builds the documents during that same walk, which is
about three times faster than the separate check followed by PyYAML's composer and
constructor (they build a node graph, then walk it again through generators).

The walk builds what configuration is made of: mappings, sequences, anchors and aliases,
and the implicit scalars ``SafeLoader`` resolves (null, bool, int, float, str, timestamp),
each through the loader's own resolver and constructor, so the values are the ones
``SafeLoader`` gives. Anything else (an explicit tag, a merge key ``<<``, a collection as
a key, a duplicate key, a duplicate, undefined or recursive anchor, a scalar the
constructor refuses) raises :class:`NotPlain`: the caller then reads the text with the
strict loader, which builds it or names the problem exactly as it always did.
"""

from __future__ import annotations

from typing import Any

from inmesh._errors import ConfigError, ConfigProblem

__all__ = ["MAX_DEPTH", "MAX_NODES", "NotPlain", "syntax_problem", "walk_documents"]

#: Nesting levels a document may have (mappings and lists; the document itself is level 0).
MAX_DEPTH = 100
#: Nodes (scalars, mappings, lists) a document may expand to, aliases expanded.
MAX_NODES = 1_000_000

_STR = "tag:yaml.org,2002:str"
#: The other scalar tags built here (SafeConstructor's implicit YAML 1.1 types).
_SCALAR_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "timestamp")
)


class NotPlain(Exception):
    """The text holds something the one-pass walk does not build (see the module
    docstring); the strict loader reads it instead."""


class _Bound(Exception):
    def __init__(self, document: int, reason: str, event: Any) -> None:
        super().__init__(reason)
        self.document, self.reason, self.event = max(document, 1), reason, event


def syntax_problem(exc: Exception, source: str, document: int) -> ConfigProblem:
    """A YAML error as a problem naming the file, the document and the line."""
    import yaml

    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown line"
        what = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        return ConfigProblem(
            f"YAML syntax error at {where}: {what}", file=source, document=document
        )
    return ConfigProblem(f"YAML error: {exc}", file=source, document=document)


def walk_documents(loader_class: Any, text: str, source: str, *, build: bool) -> list[object]:
    """Check the bounds of every document of ``text`` and, with ``build``, return its
    documents (an empty one as ``None``, so document ``n`` is item ``n - 1``).

    Raises :class:`ConfigError` naming ``source`` and the document for a syntax error or
    a bound; with ``build``, :class:`NotPlain` for text the strict loader must read.
    """
    import yaml

    walk = _Walk(loader_class(text), build)
    try:
        walk.run(yaml)
    except _Bound as bound:
        mark = bound.event.start_mark
        line = f" (line {mark.line + 1})" if mark is not None else ""
        problem = ConfigProblem(
            f"the document {bound.reason}{line}", file=source, document=bound.document
        )
        raise ConfigError([problem]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([syntax_problem(exc, source, max(walk.document, 1))]) from None
    finally:
        walk.loader.dispose()
    return walk.documents


class _Walk:
    """The walk's state: the document being read, its open collections, its anchors."""

    def __init__(self, loader: Any, build: bool) -> None:
        self.loader, self.build = loader, build
        self.document = 0
        self.documents: list[object] = []

    def run(self, yaml: Any) -> None:  # one flat loop: a call per event would cost a third more
        loader, build = self.loader, self.build
        get_event = loader.get_event
        resolve, constructors = loader.resolve, loader.yaml_constructors
        scalar_node = yaml.ScalarNode
        scalar_event, alias_event = yaml.ScalarEvent, yaml.AliasEvent
        mapping_start, sequence_start = yaml.MappingStartEvent, yaml.SequenceStartEvent
        mapping_end, sequence_end = yaml.MappingEndEvent, yaml.SequenceEndEvent
        document_start, document_end = yaml.DocumentStartEvent, yaml.DocumentEndEvent
        stream_end = yaml.StreamEndEvent
        missing: Any = _Walk  # a sentinel no document can hold
        plain: dict[str, Any] = {}  # plain scalar text -> value (resolution is per text)
        depth = nodes = 0
        # per open collection: [anchor, nodes when opened, depth, deepest below,
        #                       the enclosing container, its pending key, whether a mapping]
        stack: list[list[Any]] = []
        sizes: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, levels) of its node
        anchored: dict[str, Any] = {}  # anchor -> its value (collections once closed)
        container: Any = None
        key: Any = missing
        in_mapping = False
        value: Any = None
        while True:
            event = get_event()
            cls = type(event)
            if cls is scalar_event:  # most events: attached here, not by the shared tail
                nodes += 1
                anchor = event.anchor
                if anchor is not None:
                    sizes[anchor] = (1, 0)
                if not build:
                    if nodes > MAX_NODES:
                        raise _Bound(
                            self.document,
                            f"has more than {MAX_NODES} nodes (aliases expanded)",
                            event,
                        )
                    continue
                tag = event.tag
                if tag is not None and tag != "!":
                    raise NotPlain(f"tag {tag}")
                text = event.value
                implicit = event.implicit
                if not implicit[0]:
                    value = text  # quoted (or '!'): a string
                else:
                    value = plain.get(text, missing)
                    if value is missing:
                        tag = resolve(scalar_node, text, implicit)
                        if tag == _STR:
                            value = text
                        elif tag in _SCALAR_TAGS:
                            node = scalar_node(
                                tag, text, event.start_mark, event.end_mark, event.style
                            )
                            try:
                                value = constructors[tag](loader, node)
                            except Exception as exc:
                                raise NotPlain(f"scalar {text!r}") from exc
                        else:
                            raise NotPlain(f"tag {tag}")
                        plain[text] = value
                if anchor is not None:
                    if anchor in anchored:
                        raise NotPlain("duplicate anchor")
                    anchored[anchor] = value
                if nodes > MAX_NODES:
                    raise _Bound(
                        self.document, f"has more than {MAX_NODES} nodes (aliases expanded)", event
                    )
                if container is None:
                    continue  # a document's root value stays in ``value`` until its end
                if not in_mapping:
                    container.append(value)
                elif key is missing:
                    if value in container:  # a scalar: hashable
                        raise NotPlain("a duplicate key")
                    key = value
                else:
                    container[key] = value
                    key = missing
                continue
            elif cls is mapping_start or cls is sequence_start:
                nodes += 1
                depth += 1
                if depth > MAX_DEPTH:
                    raise _Bound(self.document, f"nests deeper than {MAX_DEPTH} levels", event)
                if nodes > MAX_NODES:
                    raise _Bound(
                        self.document, f"has more than {MAX_NODES} nodes (aliases expanded)", event
                    )
                stack.append([event.anchor, nodes, depth, depth, container, key, in_mapping])
                if build:
                    if event.tag is not None and event.tag != "!":
                        raise NotPlain(f"tag {event.tag}")
                    if event.anchor is not None and event.anchor in anchored:
                        raise NotPlain("duplicate anchor")
                    in_mapping = cls is mapping_start
                    container = {} if in_mapping else []
                    key = missing
                continue
            elif cls is mapping_end or cls is sequence_end:
                anchor, start, _, deepest, outer, outer_key, outer_mapping = stack.pop()
                if anchor is not None:
                    sizes[anchor] = (nodes - start + 1, deepest - depth + 1)
                depth -= 1
                if stack and deepest > stack[-1][3]:
                    stack[-1][3] = deepest
                if build:
                    value = container
                    if anchor is not None:
                        anchored[anchor] = value
                    container, key, in_mapping = outer, outer_key, outer_mapping
                    # attached here (no node was added: the tail's bound check is moot)
                    if container is None:
                        continue  # the document's root: kept in ``value`` until its end
                    if not in_mapping:
                        container.append(value)
                    elif key is missing:
                        raise NotPlain("a collection as a key")
                    else:
                        container[key] = value
                        key = missing
                    continue
            elif cls is alias_event:
                size, levels = sizes.get(event.anchor, (1, 0))
                nodes += size
                if stack and depth + levels > stack[-1][3]:
                    stack[-1][3] = depth + levels
                if depth + levels > MAX_DEPTH:
                    raise _Bound(self.document, f"nests deeper than {MAX_DEPTH} levels", event)
                if build:
                    value = anchored.get(event.anchor, missing)
                    if value is missing:
                        raise NotPlain("undefined or recursive alias")
            elif cls is document_start:
                self.document += 1
                nodes, sizes, anchored = 0, {}, {}
                value = None
                continue
            elif cls is document_end:
                if build:
                    self.documents.append(value)
                continue
            elif cls is stream_end:
                return
            else:
                continue
            if nodes > MAX_NODES:
                raise _Bound(
                    self.document, f"has more than {MAX_NODES} nodes (aliases expanded)", event
                )
            if not build or container is None:
                continue  # a document's root value stays in ``value`` until its end
            if not in_mapping:
                container.append(value)
            elif key is missing:
                if isinstance(value, (dict, list)) or value in container:
                    raise NotPlain("a collection as a key, or a duplicate key")
                key = value
            else:
                container[key] = value
                key = missing
