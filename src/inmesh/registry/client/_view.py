"""Views: the configuration at one revision, as a client parsed it.

A snapshot from the registry is a list of documents. :class:`ViewBuilder` turns it into a
:class:`RegistryView`, reusing every resource whose resourceVersion did not change since
the last snapshot, so a push re-parses only what changed.

A document the client cannot parse (a newer registry, a kind or field this version does
not know) does not cost the client the rest of the view: as an Envoy proxy that refuses
one resource keeps applying the others (and istiod records the NACK), the document is left
out, logged once at WARNING, and listed in :attr:`RegistryView.rejected` so the client
reports it to the registry (``inmesh status --proxies``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..._errors import ConfigError, ConfigProblem
from ...config import parse_documents

if TYPE_CHECKING:
    from ...config import Resource

__all__ = ["RegistryView", "Rejection", "ViewBuilder"]

log = logging.getLogger("inmesh.registry")

#: (kind, namespace, name, resourceVersion): one version of one stored document.
DocumentKey = tuple[str, str, str, str]


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


def _reason(problems: Sequence[ConfigProblem]) -> str:
    return "; ".join(f"{p.field}: {p.message}" if p.field else p.message for p in problems)


class ViewBuilder:
    """Parses snapshots from one ``source`` (the registry's URL), remembering the
    resources (and the refusals) of the last one by document version."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._parsed: dict[DocumentKey, Resource] = {}
        self._rejected: dict[DocumentKey, Rejection] = {}

    def build(self, revision: int, documents: Sequence[Mapping[str, Any]]) -> RegistryView:
        """The view of ``documents`` at ``revision``; never raises for a bad document."""
        parsed: dict[DocumentKey, Resource] = {}
        rejected: dict[DocumentKey, Rejection] = {}
        fresh: list[tuple[DocumentKey, Mapping[str, Any]]] = []
        for doc in documents:
            key = _key(doc)
            if (hit := self._parsed.get(key)) is not None:
                parsed[key] = hit
            elif (refused := self._rejected.get(key)) is not None:
                rejected[key] = refused  # logged when first seen
            else:
                fresh.append((key, doc))
        if fresh:
            self._parse(fresh, parsed, rejected)
        self._parsed, self._rejected = parsed, rejected
        return RegistryView(revision, tuple(parsed.values()), tuple(rejected.values()))

    def _parse(
        self,
        fresh: Sequence[tuple[DocumentKey, Mapping[str, Any]]],
        parsed: dict[DocumentKey, Resource],
        rejected: dict[DocumentKey, Rejection],
    ) -> None:
        source = f"{self.source} snapshot"
        try:  # the common case, in one call: every document is fine
            models = parse_documents([dict(d) for _, d in fresh], source=source)
            parsed.update(zip((k for k, _ in fresh), models, strict=True))
            return
        except ConfigError:
            pass
        for key, doc in fresh:  # then find the bad ones, one document at a time
            try:
                (model,) = parse_documents([dict(doc)], source=source)
            except (ConfigError, ValueError) as exc:
                problems = exc.problems if isinstance(exc, ConfigError) else ()
                refusal = Rejection(key[0], key[1], key[2], _reason(problems) or str(exc))
                log.warning("registry %s: not applying %s", self.source, refusal)
                rejected[key] = refusal
            else:
                parsed[key] = model

    @property
    def keys(self) -> frozenset[DocumentKey]:
        """The document versions of the last view, parsed or refused."""
        return frozenset(self._parsed) | frozenset(self._rejected)
