"""Views: the configuration at one revision, as a client parsed it.

A full snapshot from the registry is a list of documents; a delta names the documents
updated and the keys deleted since the client's revision. :class:`ViewBuilder` keeps the
documents of the last revision and turns either into a complete :class:`RegistryView`,
reusing every resource whose resourceVersion did not change, so a push re-parses only
what changed. Applying a delta gives the same view as the full snapshot of that revision
(the resources in one canonical order: configured resources by kind, namespace and name,
then registrations), which a property test checks.

A document the client cannot parse (a newer registry, a kind or field this version does
not know) does not cost the client the rest of the view: as an Envoy proxy that refuses
one resource keeps applying the others (and istiod records the NACK), the document is left
out, logged once at WARNING, and listed in :attr:`RegistryView.rejected` so the client
reports it to the registry (``inmesh status --proxies``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..._errors import ConfigError, ConfigProblem
from ...config import parse_documents

if TYPE_CHECKING:
    from ...config import Resource

__all__ = ["RegistryView", "Rejection", "ViewBuilder"]

log = logging.getLogger("inmesh.registry")

#: The annotation a registration's WorkloadEntry carries (the store's
#: ``REGISTERED_ANNOTATION``; the client does not import the server side).
REGISTERED = "inmesh.io/registered"

#: (kind, namespace, name, resourceVersion): one version of one stored document.
DocumentKey = tuple[str, str, str, str]
#: (kind, namespace, name): one stored document, whatever its version.
Name = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Rejection:
    """A resource a client did not apply, and why (what istioctl proxy-status lists as a
    proxy's rejected configuration)."""

    kind: str
    namespace: str
    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}: {self.reason}"

    def to_json(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class RegistryView:
    """The configuration at one revision: stored resources plus live workloads (as
    WorkloadEntry resources annotated ``inmesh.io/registered``), and the documents of
    that revision this client could not parse (``rejected``; they are not in
    ``resources``)."""

    revision: int
    resources: tuple[Resource, ...]
    rejected: tuple[Rejection, ...] = ()


def _key(doc: Mapping[str, Any]) -> DocumentKey:
    meta = doc.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    return (
        str(doc.get("kind")),
        str(meta.get("namespace") or "default"),
        str(meta.get("name")),
        str(meta.get("resourceVersion")),
    )


def _registered(doc: Mapping[str, Any]) -> bool:
    meta = doc.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    return isinstance(annotations, Mapping) and annotations.get(REGISTERED) == "true"


def _reason(problems: Sequence[ConfigProblem]) -> str:
    return "; ".join(f"{p.field}: {p.message}" if p.field else p.message for p in problems)


@dataclass(frozen=True, slots=True)
class _Entry:
    """One document of the current revision, and what became of it."""

    key: DocumentKey
    rank: tuple[bool, str, str, str]  # its place in the view: registrations last
    document: Mapping[str, Any] | None  # kept only for the cache file
    outcome: Resource | Rejection


class ViewBuilder:
    """Follows one ``source`` (the registry's URL): the documents of the current
    revision, parsed (or refused) once per document version. With ``keep_documents``
    it also keeps the documents themselves (:attr:`documents`, for the cache file):
    several times the size of the parsed view, so only when asked."""

    def __init__(self, source: str, *, keep_documents: bool = False) -> None:
        self.source = source
        self.keep_documents = keep_documents
        self._entries: dict[Name, _Entry] = {}
        # the view's order, and each entry's outcome in it: a delta that only updates
        # replaces outcomes in place, so a view costs one tuple copy, not a walk
        self._order: list[Name] = []
        self._position: dict[Name, int] = {}
        self._outcomes: list[Resource | Rejection] = []
        self._refused = 0

    def build(self, revision: int, documents: Sequence[Mapping[str, Any]]) -> RegistryView:
        """The view of a full snapshot: ``documents`` at ``revision``; never raises for a
        bad document."""
        entries: dict[Name, _Entry] = {}
        fresh: list[tuple[DocumentKey, Mapping[str, Any]]] = []
        for doc in documents:
            key = _key(doc)
            old = self._entries.get(key[:3])
            if old is not None and old.key == key:
                entries[key[:3]] = old
            else:
                fresh.append((key, doc))
        entries.update(self._parse(fresh))
        self._entries = entries
        self._reorder()
        return self._view(revision)

    def apply(
        self,
        revision: int,
        updated: Sequence[Mapping[str, Any]],
        deleted: Iterable[Name],
    ) -> RegistryView:
        """The view after a delta: ``updated`` documents replace (or add) theirs, the
        ``deleted`` (kind, namespace, name) leave; everything else stays as parsed."""
        entries = self._entries
        reorder = False
        for name in deleted:
            reorder |= entries.pop(name, None) is not None
        fresh = [(key, doc) for doc in updated if (key := _key(doc)) != _known(entries, key)]
        for name, entry in self._parse(fresh).items():
            position = self._position.get(name)
            if position is None:
                reorder = True  # a new key: the order changes
            elif not reorder:
                old = self._outcomes[position]
                self._refused += isinstance(entry.outcome, Rejection) - isinstance(old, Rejection)
                self._outcomes[position] = entry.outcome
            entries[name] = entry
        if reorder:
            self._reorder()
        return self._view(revision)

    def _reorder(self) -> None:
        entries = self._entries
        self._order = sorted(entries, key=lambda n: entries[n].rank)
        self._position = {name: i for i, name in enumerate(self._order)}
        self._outcomes = [entries[n].outcome for n in self._order]
        self._refused = sum(isinstance(o, Rejection) for o in self._outcomes)

    def _view(self, revision: int) -> RegistryView:
        if not self._refused:
            return RegistryView(revision, tuple(self._outcomes))  # type: ignore[arg-type]
        resources: list[Resource] = []
        rejected: list[Rejection] = []
        for outcome in self._outcomes:
            if isinstance(outcome, Rejection):
                rejected.append(outcome)
            else:
                resources.append(outcome)
        return RegistryView(revision, tuple(resources), tuple(rejected))

    def _entry(
        self, key: DocumentKey, doc: Mapping[str, Any], outcome: Resource | Rejection
    ) -> _Entry:
        kept = doc if self.keep_documents else None
        return _Entry(key, (_registered(doc), *key[:3]), kept, outcome)

    def _parse(self, fresh: Sequence[tuple[DocumentKey, Mapping[str, Any]]]) -> dict[Name, _Entry]:
        if not fresh:
            return {}
        source = f"{self.source} snapshot"
        try:  # the common case, in one call: every document is fine
            models = parse_documents([dict(d) for _, d in fresh], source=source)
            return {k[:3]: self._entry(k, d, m) for (k, d), m in zip(fresh, models, strict=True)}
        except ConfigError:
            pass
        out: dict[Name, _Entry] = {}
        for key, doc in fresh:  # then find the bad ones, one document at a time
            outcome: Resource | Rejection
            try:
                (outcome,) = parse_documents([dict(doc)], source=source)
            except (ConfigError, ValueError) as exc:
                problems = exc.problems if isinstance(exc, ConfigError) else ()
                outcome = Rejection(key[0], key[1], key[2], _reason(problems) or str(exc))
                log.warning("registry %s: not applying %s", self.source, outcome)
            out[key[:3]] = self._entry(key, doc, outcome)
        return out

    @property
    def documents(self) -> tuple[Mapping[str, Any], ...]:
        """The documents of the current revision (what the cache file keeps); only
        with ``keep_documents``."""
        if not self.keep_documents:
            raise RuntimeError("this ViewBuilder does not keep documents")
        return tuple(e.document for n in self._order if (e := self._entries[n]).document)

    @property
    def keys(self) -> frozenset[DocumentKey]:
        """The document versions of the last view, parsed or refused."""
        return frozenset(e.key for e in self._entries.values())


def _known(entries: Mapping[Name, _Entry], key: DocumentKey) -> DocumentKey | None:
    entry = entries.get(key[:3])
    return None if entry is None else entry.key
