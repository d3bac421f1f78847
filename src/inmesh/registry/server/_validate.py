"""Turning a request body into resources to store, with the same checks ``inmesh analyze``
makes: the schema (``parse_documents``), then cross-references (``analysis.check``) over
the resources applied *together with* what is stored.

An apply costs what it changes. Each document is first compared with what is stored under
its key (``kubectl apply`` reports such a resource "unchanged"): a document equal to the
stored one (as ``inmesh apply`` sends it, the stored form itself), or equal to the last
document applied for that key since it was stored, is not validated, analyzed or written
again. Only the changed documents are validated, written and analyzed; an apply that changes
nothing writes nothing, bumps no revision and pushes nothing. The analysis covers
everything stored through indexes kept across applies (``_stored_analysis.py``): an
apply re-indexes what changed in the store since the last one and checks its changed
resources against them, with the messages a full analysis would give.

Which analysis messages block an apply: every Error about a changed resource in the apply,
except the ones about what other resources or workloads exist: IST0101
(ReferencedResourceNotFound), IST0173 (a subset selecting no workload), IST0112 (a
multi-port destination) and IST0145 (gateways conflicting). Istio itself never rejects
configuration for these (its admission webhook checks the schema only; ``istioctl analyze``
reports the rest), and in a registry the order of applies is not ours to choose: a
VirtualService may arrive before its ServiceEntry, and registered workloads come and go.
So those, and every Warning, come back with the successful apply instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..._errors import ConfigError
from ...analysis._message import resource_label
from ...config import dump_resource, parse_documents, yaml_documents
from ...config._files import gc_paused
from ...config._kinds import MODELLED as _CONFIG_KINDS
from .._errors import BadRequest
from ..store import ResourceKey, StoredResource, Write, WriteResult
from ..store._base import canonical_json
from ._problems import Problems
from ._stored_analysis import StoredAnalysis

__all__ = [
    "KINDS",
    "SERVER_SET_METADATA",
    "Validated",
    "Validator",
    "load_models",
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


def load_models() -> None:
    """Import every kind's models now (at start-up): the first apply should not pay for
    it (0.15-0.2 s of imports and pydantic schema building)."""
    from ...config._kinds import kind_class

    with gc_paused():
        for kind in sorted(KINDS):
            kind_class(kind)


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
    """Copies with ``metadata.namespace`` set (``kubectl apply -n`` semantics); only the
    metadata is copied, the rest is shared with ``docs``."""
    out: list[dict[str, Any]] = []
    problems = Problems()
    for i, doc in enumerate(docs, 1):
        doc = dict(doc)
        meta = doc.get("metadata")
        if isinstance(meta, dict):
            meta = doc["metadata"] = dict(meta)
            given = meta.get("namespace")
            if namespace is not None and given not in (None, namespace):
                problems.add(
                    i,
                    f"metadata.namespace {given!r} does not match "
                    f"the namespace {namespace!r} of the request",
                )
            meta["namespace"] = given or namespace or "default"
        out.append(doc)
    problems.raise_any()
    return out


def _raw_key(doc: Mapping[str, Any]) -> ResourceKey | None:
    """The key a (defaulted) document claims, if it names one of the registry's kinds."""
    kind, meta = doc.get("kind"), doc.get("metadata")
    if kind not in KINDS or not isinstance(meta, dict):
        return None
    name, namespace = meta.get("name"), meta.get("namespace")
    if not isinstance(name, str) or not isinstance(namespace, str):
        return None
    return ResourceKey(str(kind), namespace, name)


def _digest(raw: str) -> bytes:
    """What :class:`Validator` remembers of a document applied (16 bytes, not the text)."""
    return hashlib.blake2b(raw.encode(), digest_size=16).digest()


def _comparable(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A defaulted document as the store would hold it: without server-set metadata and
    status (what :meth:`Validator.canonical` leaves out too)."""
    meta = doc.get("metadata")
    body = dict(doc)
    if isinstance(meta, dict):
        body["metadata"] = {k: v for k, v in meta.items() if k not in SERVER_SET_METADATA}
    body.pop("status", None)
    return body


def resource_keys(docs: Sequence[Mapping[str, Any]], namespace: str | None) -> list[ResourceKey]:
    """Just the keys of ``docs`` (for ``delete -f``): kind, namespace and name."""
    keys: list[ResourceKey] = []
    problems = Problems()
    for i, doc in enumerate(_defaulted([dict(d) for d in docs], namespace), 1):
        kind, meta = doc.get("kind"), doc.get("metadata")
        if kind not in KINDS:
            message = f"unknown kind {kind!r}; expected one of " + ", ".join(sorted(KINDS))
            problems.add(i, message)
        elif not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
            problems.add(i, "metadata.name is required")
        else:
            keys.append(ResourceKey(str(kind), meta["namespace"], meta["name"]))
    problems.raise_any()
    return keys


@dataclass
class Validated:
    """An apply, checked: the writes to commit (the changed documents only), the warnings
    to hand back, the documents found unchanged (key -> stored resourceVersion), and each
    document's key in the order given."""

    writes: list[Write]
    warnings: list[str] = field(default_factory=list)
    unchanged: dict[ResourceKey, int] = field(default_factory=dict)
    order: list[ResourceKey] = field(default_factory=list)
    #: The changed resources' models and, for a document that differs from its stored
    #: form, its canonical JSON (``None`` when it is the stored form), for
    #: :meth:`Validator.remember`.
    models: dict[ResourceKey, tuple[Any, str | None]] = field(default_factory=dict)

    def results(self, written: Sequence[WriteResult]) -> list[WriteResult]:
        """Every document's result in the order given: the store's for what was written,
        "unchanged" at the stored version for the rest."""
        by_key = {r.key: r for r in written}
        return [
            by_key[k] if k in by_key else WriteResult(k, "unchanged", self.unchanged[k])
            for k in self.order
        ]


class Validator:
    """Schema and analysis checks, with parsed stored resources cached by resourceVersion
    (so an apply re-parses only what changed since the last one) and the last document
    applied for each key (so re-applying it is a comparison, not a validation)."""

    def __init__(self) -> None:
        self._parsed: dict[tuple[ResourceKey, int], Any] = {}
        #: key -> (digest of the document last applied, the version it became)
        self._applied: dict[ResourceKey, tuple[bytes, int]] = {}
        #: the analysis of everything stored, kept across applies
        self._analysis = StoredAnalysis(self._parsed)

    def parse(self, docs: Iterable[Mapping[str, Any] | None], source: str) -> list[Any]:
        """Validate ``docs`` (``None`` entries are skipped but keep their number)."""
        # compact=False: an apply is on the caller's clock and compaction costs half again
        # the validation's CPU; the registry trades that memory for apply latency
        try:
            return list(
                parse_documents(
                    [None if d is None else dict(d) for d in docs], source=source, compact=False
                )
            )
        except ConfigError as exc:
            problems = Problems()
            problems.extend(exc)
        raise BadRequest(400, problems.messages, problems=problems.located) from None

    def canonical(self, resource: Any) -> dict[str, Any]:
        """The document stored for ``resource``: its dump, without server-set metadata."""
        doc = dump_resource(resource)
        meta = doc.setdefault("metadata", {})
        for key in SERVER_SET_METADATA:
            meta.pop(key, None)
        meta["namespace"] = resource.namespace
        doc.pop("status", None)
        return doc

    def _model(self, item: StoredResource) -> Any | None:
        """The stored resource as a model (cached; ``None`` if it no longer validates)."""
        cache_key = (item.key, item.version)
        model = self._parsed.get(cache_key)
        if model is None:
            try:
                model = self.parse([item.body], source=f"stored {item.key}")[0]
            except BadRequest:
                return None  # stored by an older version with looser rules
            self._parsed[cache_key] = model
        return model

    def remember(self, checked: Validated, written: Sequence[WriteResult]) -> None:
        """After a commit: cache the written resources' models at their new versions, and
        their raw documents, so the next apply of the same finds them unchanged cheaply."""
        for result in written:
            entry = checked.models.get(result.key)
            if entry is None or result.action == "deleted":
                continue
            model, raw = entry
            self._parsed[(result.key, result.version)] = model
            if raw is None:  # sent as stored: the next apply compares it with the store's
                self._applied.pop(result.key, None)
            else:
                self._applied[result.key] = (_digest(raw), result.version)

    def _unchanged(
        self, doc: dict[str, Any], stored: StoredResource | None
    ) -> dict[str, Any] | None:
        """``None`` if ``doc`` is the stored resource unchanged, else the document as the
        store would compare it (see :meth:`_write`)."""
        body = _comparable(doc)
        if stored is None:
            return body
        given = (doc.get("metadata") or {}).get("resourceVersion")
        if given not in (None, "") and str(given) != str(stored.version):
            return body  # a stale resourceVersion: the commit answers 409
        # The stored form itself (what ``inmesh apply`` usually sends: its documents as
        # written, which for most files are the stored form): a comparison in C. Equal
        # values of other types (1 and 1.0) validate to the same resource.
        if body != stored.body:
            raw = canonical_json(body)
            if self._applied.get(stored.key) != (_digest(raw), stored.version):
                return body
        if self._model(stored) is None:
            return body  # no longer valid as stored: validate it again
        return None

    def check_apply(
        self,
        docs: Sequence[Mapping[str, Any]],
        namespace: str | None,
        stored: Sequence[StoredResource],
        workloads: Sequence[StoredResource] = (),
    ) -> Validated:
        """Validate an apply of ``docs`` against ``stored`` (and live ``workloads``, whose
        registered WorkloadEntries are stored resources of their own kind): the documents
        that differ from what is stored are validated and analyzed, the rest reported
        unchanged."""
        with gc_paused():  # many objects, no cycles (see gc_paused)
            return self._check_apply(docs, namespace, stored, workloads)

    def _check_apply(
        self,
        docs: Sequence[Mapping[str, Any]],
        namespace: str | None,
        stored: Sequence[StoredResource],
        workloads: Sequence[StoredResource],
    ) -> Validated:
        defaulted = _defaulted([dict(d) for d in docs], namespace)
        by_key = self._analysis.sync(workloads, stored, self._model)
        checked = Validated(writes=[])
        changed: list[dict[str, Any] | None] = []
        bodies: list[dict[str, Any]] = []
        for doc in defaulted:
            key = _raw_key(doc)
            body = self._unchanged(doc, by_key.get(key)) if key is not None else _comparable(doc)
            if body is None and key is not None:
                checked.unchanged[key] = by_key[key].version
                changed.append(None)
            else:
                changed.append(doc)
                bodies.append(body or {})
        resources = self.parse(changed, source="request")
        problems = Problems()
        seen: set[ResourceKey] = set()
        models = iter(zip(resources, bodies, strict=True))
        for i, given in enumerate(changed, 1):
            if given is None:
                key = _raw_key(defaulted[i - 1])
                assert key is not None
            else:
                r, body = next(models)
                key = ResourceKey(r.kind, r.namespace, r.name)
                self._write(checked, i, given, r, body, problems)
            if key in seen:
                problems.add(i, "appears twice in one apply", key=key)
            seen.add(key)
            checked.order.append(key)
        problems.raise_any()
        if resources:
            checked.warnings = self._analyze(resources, stored, workloads)
        return checked

    def _write(
        self,
        checked: Validated,
        i: int,
        doc: Mapping[str, Any],
        r: Any,
        body: dict[str, Any],
        problems: Problems,
    ) -> None:
        key = ResourceKey(r.kind, r.namespace, r.name)
        given = (doc.get("metadata") or {}).get("resourceVersion")
        expected: int | None = None
        if given not in (None, ""):
            try:
                expected = int(str(given))
            except ValueError:
                problems.add(
                    i,
                    f"metadata.resourceVersion {given!r} is not one this registry issued",
                    key=key,
                )
                return
        canonical = self.canonical(r)
        checked.writes.append(Write(key, canonical, expected_version=expected))
        # A document that is not its stored form is remembered by a digest of it (so
        # that applying it again is a comparison); the stored form needs none.
        checked.models[key] = (r, None if body == canonical else canonical_json(body))

    def _analyze(
        self,
        resources: Sequence[Any],
        stored: Sequence[StoredResource],
        workloads: Sequence[StoredResource],
    ) -> list[str]:
        """The analysis of the changed ``resources`` among everything stored: raises for
        a blocking error, returns the warnings. The same messages as ``check`` over
        every stored resource with ``resources`` in place (``analysis._incremental``),
        from indexes kept across applies: the changed resources are put in for the
        check and taken out after it (the next apply finds them stored, if committed)."""
        found = self._analysis.check(resources, workloads, stored)
        mine = {resource_label(r) for r in resources}
        errors: list[str] = []
        warnings: list[str] = []
        for message in found:
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
        return warnings
