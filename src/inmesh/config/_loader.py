"""Loading configuration: files or parsed documents in, validated resources (or one error) out.

Every problem of every document is collected, each located to file, document (1-based),
resource and field path (``spec.http[0].route[1].weight``, in YAML's camelCase names);
then a single :class:`ConfigError` carries them all. Any problem rejects the whole call.
"""

from __future__ import annotations

import logging
import os
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from inmesh._errors import ConfigError, ConfigProblem
from inmesh.config._files import expand_paths, gc_paused, read_documents
from inmesh.config._kinds import (
    MODELLED,
    is_list_kind,
    kind_class,
    list_without_items_message,
    not_a_mapping_message,
    skip_reason,
    unknown_kind_message,
    unsupported_message,
)
from inmesh.config._loc import Loc, format_loc
from inmesh.config._support import SUPPORT_CODE

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

    from inmesh.config._compact import Compactor
    from inmesh.config._resources import Resource

__all__ = ["LoadReport", "dump_resource", "load_config", "load_report", "parse_documents"]

_log = logging.getLogger("inmesh.config")
#: The analyzer code of a document skipped as not a mesh resource (an Info message).
SKIPPED_CODE = "INM0003"
_CONTEXT = {"inmesh_source": "document"}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def claims(doc: object) -> tuple[str | None, str | None, str | None]:
    """The kind, namespace and name a document claims (each ``None`` unless a string): what
    a problem of a document that did not load names."""
    raw = doc if isinstance(doc, Mapping) else {}
    meta = raw.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    return _text(raw.get("kind")), _text(meta.get("namespace")), _text(meta.get("name"))


@dataclass
class LoadReport:
    """What :func:`load_report` loaded, the documents it skipped (as Info problems) and,
    with ``keep_going``, the problems of the documents it could not load."""

    resources: list[Resource] = field(default_factory=list)
    skipped: list[ConfigProblem] = field(default_factory=list)
    problems: list[ConfigProblem] = field(default_factory=list)
    #: The problems (also in ``problems``) of files that could not be read or parsed.
    unparsed: list[ConfigProblem] = field(default_factory=list)


class _Where:
    """Where a document came from; which resource it claims to be is read from the
    document only when a problem is reported (most documents have none)."""

    __slots__ = ("doc", "number", "prefix", "report", "source")

    def __init__(
        self, *, source: str, number: int, prefix: Loc, doc: object, report: LoadReport | None
    ) -> None:
        self.source, self.number, self.prefix, self.report = source, number, prefix, report
        self.doc = doc

    def problem(
        self, message: str, loc: Loc = (), *, code: str = "IST0106", severity: str = "Error"
    ) -> ConfigProblem:
        field = format_loc((*self.prefix, *loc)) or None
        kind, namespace, name = claims(self.doc)
        return ConfigProblem(
            message,
            file=self.source,
            document=self.number,
            kind=kind,
            namespace=namespace,
            name=name,
            field=field,
            code=code,
            severity=severity,
        )

    def item(self, index: int, doc: object) -> _Where:
        """The ``index``-th item of a ``kind: List`` document."""
        return _Where(
            source=self.source,
            number=self.number,
            prefix=(*self.prefix, "items", index),
            doc=doc,
            report=self.report,
        )

    def skipped(self, reason: str) -> None:
        """Record (and log at debug level) a document skipped as not a mesh resource."""
        _log.debug("%s (document %d): skipped: %s", self.source, self.number, reason)
        if self.report is not None:
            problem = self.problem(f"skipped: {reason}", code=SKIPPED_CODE, severity="Info")
            self.report.skipped.append(problem)


def _problems_from(
    exc: ValidationError, cls: type[BaseModel], where: _Where
) -> list[ConfigProblem]:
    from inmesh.config._base import RuleViolation
    from inmesh.config._error_text import describe

    problems: list[ConfigProblem] = []
    for err in exc.errors(include_url=False):
        loc: Loc = tuple(err["loc"])
        error = (err.get("ctx") or {}).get("error")
        if isinstance(error, RuleViolation):
            problems.extend(where.problem(msg, (*loc, *sub)) for sub, msg in error.violations)
        elif loc and loc[-1] == "[key]":
            problems.append(
                where.problem(f"invalid key {loc[-2]!r}: {describe(err, cls, loc)}", loc[:-1])
            )
        else:
            problems.append(where.problem(describe(err, cls, loc), loc))
    return problems


def _resolve_class(
    doc: Mapping[Any, Any], where: _Where, skip_unused: bool
) -> type[BaseModel] | ConfigProblem | None:
    """The model class of ``doc``; ``None`` to skip it (a kind the mesh does not use)."""
    kind, api_version = doc.get("kind"), doc.get("apiVersion")
    if not isinstance(kind, str) or not kind:
        return where.problem("kind is required (e.g. VirtualService)", ("kind",))
    version = api_version if isinstance(api_version, str) else ""
    refused = unsupported_message(version, kind)
    if refused is not None:
        return where.problem(refused, ("kind",), code=SUPPORT_CODE)
    if kind not in MODELLED:
        reason = skip_reason(version, kind) if version else None
        if reason is None:
            return where.problem(unknown_kind_message(version, kind), ("kind",))
        if not skip_unused:
            return where.problem(f"{reason}: only mesh resources are accepted here", ("kind",))
        where.skipped(reason)
        return None
    cls = kind_class(kind)
    assert cls is not None
    versions = typing.get_args(cls.model_fields["api_version"].annotation)
    if api_version not in versions:
        got = "missing" if api_version is None else repr(api_version)
        return where.problem(
            f"apiVersion {got} is not served for kind {kind}; expected one of "
            f"{', '.join(versions)}",
            ("apiVersion",),
        )
    _SERVED[(kind, version)] = cls
    return cls


#: (kind, apiVersion) -> the model class, for the pairs :func:`_resolve_class` accepted
#: (the same answer every time: the tables it reads are constants).
_SERVED: dict[tuple[str, str], type[BaseModel]] = {}
_object_setattr = object.__setattr__


def _parse(
    doc: object,
    where: _Where,
    out: list[Resource],
    problems: list[ConfigProblem],
    compactor: Compactor | None,
) -> None:
    cls: type[BaseModel] | None = None
    if type(doc) is dict:  # what the YAML and JSON readers give: the served kinds' fast path
        kind, version = doc.get("kind"), doc.get("apiVersion")
        if type(kind) is str and type(version) is str:
            cls = _SERVED.get((kind, version))
    if cls is None:
        if _is_resource(doc):
            out.append(typing.cast("Resource", doc))
            return
        if not isinstance(doc, Mapping):
            problems.append(where.problem(not_a_mapping_message(doc)))
            return
        kind, items = doc.get("kind"), doc.get("items")
        if is_list_kind(kind):
            if not isinstance(items, list):
                problems.append(where.problem(list_without_items_message(kind), ("items",)))
                return
            for i, item in enumerate(items):
                _parse(item, where.item(i, item), out, problems, compactor)
            return
        resolved = _resolve_class(doc, where, where.report is not None)
        if resolved is None:
            return
        if isinstance(resolved, ConfigProblem):
            problems.append(resolved)
            return
        cls = resolved
    from pydantic import ValidationError

    try:
        resource = cls.model_validate(doc, context=_CONTEXT)
    except ValidationError as exc:
        problems.extend(_problems_from(exc, cls, where))
        return
    if compactor is not None:
        resource = compactor.resource(resource)
    _object_setattr(resource, "_origin", (where.source, where.number))  # a slot
    out.append(typing.cast("Resource", resource))


def _is_resource(doc: object) -> bool:
    """An already-built resource model (it passes through)."""
    kind = getattr(doc, "kind", None)
    cls = kind_class(kind) if isinstance(kind, str) else None
    return cls is not None and isinstance(doc, cls)


def _parse_numbered(
    documents: Iterable[tuple[int, object]],
    source: str,
    out: list[Resource],
    problems: list[ConfigProblem],
    report: LoadReport | None,
    compactor: Compactor | None,
) -> None:
    for number, doc in documents:
        if doc is None:
            continue  # an empty document, e.g. after a trailing '---'
        where = _Where(source=source, number=number, prefix=(), doc=doc, report=report)
        _parse(doc, where, out, problems, compactor)


def parse_documents(
    docs: Iterable[object],
    *,
    source: str = "<memory>",
    skip_unused: bool = False,
    compact: bool = True,
) -> list[Resource]:
    """Validate already-parsed documents (dicts, or resource models, which pass through).

    ``None`` entries are skipped; a ``kind: List`` document contributes its ``items``.
    By default every document must be a mesh resource (one resource per document, as the
    registry's apply needs): a Kubernetes kind the mesh does not use is refused. With
    ``skip_unused`` such documents are skipped (logged at debug level), as
    :func:`load_config` does for files. Raises :class:`ConfigError` with every problem
    found; nothing is returned then.

    ``compact`` (the default) rebuilds each resource compactly as it is validated
    (:mod:`inmesh.config._compact`: equal values shared, about a fifth of the memory, for
    about as much CPU again as validating: 1.0 s at 5,000 services); a caller that only
    validates and drops the resources (a dump, a check) can pass ``compact=False``.
    """
    from inmesh.config._compact import Compactor

    out: list[Resource] = []
    problems: list[ConfigProblem] = []
    report = LoadReport() if skip_unused else None
    compactor = Compactor() if compact else None
    with gc_paused():
        _parse_numbered(enumerate(docs, start=1), source, out, problems, report, compactor)
    if problems:
        raise ConfigError(problems)
    return out


def load_report(
    *paths: str | os.PathLike[str], keep_going: bool = False, compact: bool = True
) -> LoadReport:
    """:func:`load_config`, also returning the documents it skipped.

    With ``keep_going`` (``inmesh analyze``, as ``istioctl analyze``), an invalid document
    does not stop the load: its problems are in :attr:`LoadReport.problems` and every valid
    document is loaded. Without it, loading is all-or-nothing (``apply``, ``Mesh``).
    ``compact``: as for :func:`parse_documents`.
    """
    from inmesh.config._compact import Compactor

    report = LoadReport()
    problems = report.problems
    compactor = Compactor() if compact else None
    for path in expand_paths(paths):
        before = len(problems)
        documents = read_documents(path, problems)
        report.unparsed.extend(problems[before:])
        with gc_paused():
            _parse_numbered(documents, str(path), report.resources, problems, report, compactor)
    if problems and not keep_going:
        raise ConfigError(problems)
    return report


def load_config(*paths: str | os.PathLike[str], compact: bool = True) -> list[Resource]:
    """Load and validate YAML (multi-document) and JSON configuration files, in order.

    A directory stands for its ``*.yaml``, ``*.yml`` and ``*.json`` files, sorted by name.
    Documents of Kubernetes kinds the mesh does not use (ConfigMap, Secret, Namespace, ...)
    and other controllers' custom resources are skipped (logged at debug level), as a file
    may mix an application's manifests with its mesh configuration; mesh kinds inmesh does
    not model yet (Sidecar, EnvoyFilter, Gateway API routes, ...) are refused by name.
    Raises :class:`ConfigError` listing every problem in every file (syntax errors name the
    line); nothing is returned then. ``compact``: as for :func:`parse_documents`.
    """
    return load_report(*paths, compact=compact).resources


def dump_resource(resource: Resource) -> dict[str, Any]:
    """The resource as an Istio YAML/JSON document (camelCase, unset fields left out,
    durations as ``"10s"``); ``parse_documents([dump_resource(r)]) == [r]``."""
    data = resource.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)
    data.pop("apiVersion", None)
    data.pop("kind", None)
    return {"apiVersion": resource.api_version, "kind": resource.kind, **data}
