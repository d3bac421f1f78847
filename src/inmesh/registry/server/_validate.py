"""Turning a request body into resources to store, with the same checks ``inmesh analyze``
makes: the schema (``parse_documents``), then cross-references (``analysis.check``) over
the resources applied *together with* what is stored.

Which analysis messages block an apply: every Error about a resource in the apply, except
the ones about what other resources or workloads exist: IST0101
(ReferencedResourceNotFound), IST0173 (a subset selecting no workload), IST0112 (a
multi-port destination) and IST0145 (gateways conflicting). Istio itself never rejects
configuration for these (its admission webhook checks the schema only; ``istioctl analyze``
reports the rest), and in a registry the order of applies is not ours to choose: a
VirtualService may arrive before its ServiceEntry, and registered workloads come and go.
So those, and every Warning, come back with the successful apply instead.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..._errors import ConfigError
from ...analysis import check
from ...analysis._message import resource_label
from ...config import KINDS as _CONFIG_KINDS
from ...config import dump_resource, parse_documents, yaml_documents
from .._errors import BadRequest
from ..store import ResourceKey, StoredResource, Write

__all__ = [
    "KINDS",
    "SERVER_SET_METADATA",
    "Validated",
    "Validator",
    "parse_body",
    "resource_keys",
]

#: Every kind the registry stores (what ``inmesh.config`` parses).
KINDS = frozenset(_CONFIG_KINDS)

#: Metadata the registry sets itself and does not store as given.
SERVER_SET_METADATA = (
    "resourceVersion",
    "creationTimestamp",
    "uid",
    "generation",
    "managedFields",
    "selfLink",
)

#: Analysis errors reported as warnings at apply time (see the module docstring).
DEFERRED_CODES = frozenset({"IST0101", "IST0173", "IST0112", "IST0145"})


def parse_body(raw: bytes, content_type: str = "") -> list[dict[str, Any]]:
    """The documents in a YAML (multi-document) or JSON body (a document, a list of them,
    or a Kubernetes ``List``)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(400, [f"body is not UTF-8: {exc}"]) from None
    # one bounded parser for every way configuration comes in (size, depth, aliases,
    # duplicate keys): a body nested 200,000 deep is a 400, not a crashed registry
    try:
        parsed = yaml_documents(
            text, source="request body", syntax="json" if "json" in content_type else "yaml"
        )
    except ConfigError as exc:
        raise BadRequest(400, [str(p) for p in exc.problems]) from None
    items: list[Any] = [d for d in parsed if d is not None]
    docs: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, dict) and item.get("kind") == "List" and "items" in item:
            docs.extend(item["items"] or [])
        else:
            docs.append(item)
    problems = [
        f"document {i}: expected a mapping (a resource), got {type(d).__name__}"
        for i, d in enumerate(docs, 1)
        if not isinstance(d, dict)
    ]
    if problems:
        raise BadRequest(400, problems)
    if not docs:
        raise BadRequest(400, ["the body holds no documents"])
    return docs


def _defaulted(docs: Sequence[dict[str, Any]], namespace: str | None) -> list[dict[str, Any]]:
    """Copies with ``metadata.namespace`` set (``kubectl apply -n`` semantics)."""
    out: list[dict[str, Any]] = []
    problems: list[str] = []
    for i, doc in enumerate(docs, 1):
        doc = copy.deepcopy(doc)
        meta = doc.get("metadata")
        if isinstance(meta, dict):
            given = meta.get("namespace")
            if namespace is not None and given not in (None, namespace):
                problems.append(
                    f"document {i}: metadata.namespace {given!r} does not match "
                    f"the namespace {namespace!r} of the request"
                )
            meta["namespace"] = given or namespace or "default"
        out.append(doc)
    if problems:
        raise BadRequest(400, problems)
    return out


def resource_keys(docs: Sequence[Mapping[str, Any]], namespace: str | None) -> list[ResourceKey]:
    """Just the keys of ``docs`` (for ``delete -f``): kind, namespace and name."""
    keys: list[ResourceKey] = []
    problems: list[str] = []
    for i, doc in enumerate(_defaulted([dict(d) for d in docs], namespace), 1):
        kind, meta = doc.get("kind"), doc.get("metadata")
        if kind not in KINDS:
            problems.append(
                f"document {i}: unknown kind {kind!r}; expected one of " + ", ".join(sorted(KINDS))
            )
        elif not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
            problems.append(f"document {i}: metadata.name is required")
        else:
            keys.append(ResourceKey(str(kind), meta["namespace"], meta["name"]))
    if problems:
        raise BadRequest(400, problems)
    return keys


def _problems(exc: ConfigError) -> list[str]:
    return [str(p) for p in exc.problems]


@dataclass
class Validated:
    """An apply, checked: the writes to commit and the warnings to hand back."""

    writes: list[Write]
    warnings: list[str] = field(default_factory=list)


class Validator:
    """Schema and analysis checks, with parsed stored resources cached by resourceVersion
    (so an apply re-parses only what changed since the last one)."""

    def __init__(self) -> None:
        self._parsed: dict[tuple[ResourceKey, int], Any] = {}

    def parse(self, docs: Iterable[Mapping[str, Any]], source: str) -> list[Any]:
        try:
            return list(parse_documents([dict(d) for d in docs], source=source))
        except ConfigError as exc:
            raise BadRequest(400, _problems(exc)) from None

    def canonical(self, resource: Any) -> dict[str, Any]:
        """The document stored for ``resource``: its dump, without server-set metadata."""
        doc = dump_resource(resource)
        meta = doc.setdefault("metadata", {})
        for key in SERVER_SET_METADATA:
            meta.pop(key, None)
        meta["namespace"] = resource.namespace
        doc.pop("status", None)
        return doc

    def stored(self, items: Iterable[StoredResource]) -> list[Any]:
        """Stored resources as models (cached; they were valid when stored)."""
        out: list[Any] = []
        live: dict[tuple[ResourceKey, int], Any] = {}
        for item in items:
            cache_key = (item.key, item.version)
            model = self._parsed.get(cache_key)
            if model is None:
                try:
                    model = self.parse([item.body], source=f"stored {item.key}")[0]
                except BadRequest:
                    continue  # stored by an older version with looser rules: skip it
            live[cache_key] = model
            out.append(model)
        self._parsed = live
        return out

    def check_apply(
        self,
        docs: Sequence[Mapping[str, Any]],
        namespace: str | None,
        stored: Sequence[StoredResource],
        workloads: Sequence[StoredResource] = (),
    ) -> Validated:
        """Validate an apply of ``docs`` against ``stored`` (and live ``workloads``, whose
        registered WorkloadEntries are stored resources of their own kind)."""
        defaulted = _defaulted([dict(d) for d in docs], namespace)
        resources = self.parse(defaulted, source="request")
        writes: list[Write] = []
        problems: list[str] = []
        seen: set[ResourceKey] = set()
        for i, (doc, r) in enumerate(zip(defaulted, resources, strict=True), 1):
            key = ResourceKey(r.kind, r.namespace, r.name)
            if key in seen:
                problems.append(f"document {i}: {key} appears twice in one apply")
            seen.add(key)
            given = (doc.get("metadata") or {}).get("resourceVersion")
            expected: int | None = None
            if given not in (None, ""):
                try:
                    expected = int(str(given))
                except ValueError:
                    problems.append(
                        f"document {i}: {key}: metadata.resourceVersion "
                        f"{given!r} is not one this registry issued"
                    )
            writes.append(Write(key, self.canonical(r), expected_version=expected))
        if problems:
            raise BadRequest(400, problems)
        combined = {(m.kind, m.namespace, m.name): m for m in self.stored([*workloads, *stored])}
        for r in resources:
            combined[(r.kind, r.namespace, r.name)] = r
        mine = {resource_label(r) for r in resources}
        errors: list[str] = []
        warnings: list[str] = []
        for message in check(list(combined.values())):
            if message.resource not in mine:
                continue
            if message.level != "Error":
                warnings.append(message.format())
            elif message.code in DEFERRED_CODES:
                warnings.append(dataclasses.replace(message, level="Warning").format())
            else:
                errors.append(message.format())
        if errors:
            raise BadRequest(400, errors)
        return Validated(writes, warnings)
