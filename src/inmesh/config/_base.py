"""What every configuration model shares: naming, strictness, rule violations, metadata.

Python attributes are snake_case and their aliases are Istio's exact camelCase names
(``consecutive_5xx_errors`` <-> ``consecutive5xxErrors``, ``from_`` <-> ``from``). Models
are frozen and reject unknown fields, as Istio's structural CRD schemas do; scalars are
strict (a string stays a string), while lists are accepted and stored as tuples.

Cross-field rules from Istio's ``validation.go`` live in ``model_validator(mode="after")``
methods that collect every broken rule of a model into one :class:`RuleViolation`, each
with the path of the offending field *relative to that model*; the loader joins it to
pydantic's location to name the full field path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator
from typing_extensions import Self

from inmesh.config._loc import Loc, format_loc
from inmesh.config._names import check_labels, check_namespace, check_object_name

__all__ = [
    "Bool",
    "Float",
    "Int32",
    "IstioModel",
    "IstioResource",
    "Loc",
    "NonNegInt32",
    "ObjectMeta",
    "Port",
    "RuleViolation",
    "Str",
    "UInt32",
    "UInt64",
    "Violations",
    "format_loc",
    "istio_alias",
]

Str = Annotated[str, Strict()]
Bool = Annotated[bool, Strict()]
Float = Annotated[float, Strict()]
Int32 = Annotated[int, Strict(), Field(ge=-(2**31), le=2**31 - 1)]
NonNegInt32 = Annotated[int, Strict(), Field(ge=0, le=2**31 - 1)]
UInt32 = Annotated[int, Strict(), Field(ge=0, le=2**32 - 1)]
UInt64 = Annotated[int, Strict(), Field(ge=0, le=2**64 - 1)]
Port = Annotated[int, Strict(), Field(ge=1, le=65535)]


def istio_alias(field_name: str) -> str:
    """snake_case attribute -> Istio's camelCase YAML name (``from_`` -> ``from``)."""
    head, *rest = field_name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class RuleViolation(ValueError):
    """One or more Istio validation rules broken in one model (paths relative to it)."""

    def __init__(self, violations: Sequence[tuple[Loc, str]]) -> None:
        self.violations: tuple[tuple[Loc, str], ...] = tuple(violations)
        super().__init__(
            "; ".join(f"{format_loc(loc)}: {msg}" if loc else msg for loc, msg in self.violations)
        )


class Violations:
    """Collects broken rules inside one validator, then raises them together."""

    def __init__(self) -> None:
        self.items: list[tuple[Loc, str]] = []

    def add(self, message: str | None, *loc: str | int) -> None:
        """Record ``message`` at ``loc``; ``None`` (a passing check) is ignored."""
        if message:
            self.items.append((tuple(loc), message))

    def labels(self, labels: Mapping[str, str], *loc: str | int) -> None:
        for key, message in check_labels(labels):
            self.add(message, *loc, key)

    def raise_if_any(self) -> None:
        if self.items:
            raise RuleViolation(self.items)


class IstioModel(BaseModel):
    """Base of every Istio message: frozen, unknown fields rejected, camelCase aliases."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        alias_generator=istio_alias,
        defer_build=True,
    )


class ObjectMeta(IstioModel):
    """Kubernetes object metadata; Istio reads name, namespace, labels and annotations.

    The other standard ``ObjectMeta`` fields (uid, resourceVersion, ...) are accepted so that
    ``kubectl get -o yaml`` output loads, and otherwise ignored.
    """

    name: Str
    namespace: Str | None = None
    labels: Mapping[str, Str] = Field(default_factory=dict)
    annotations: Mapping[str, Str] = Field(default_factory=dict)
    generate_name: Str | None = None
    uid: Str | None = None
    resource_version: Str | None = None
    generation: int | None = None
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    deletion_grace_period_seconds: int | None = None
    owner_references: tuple[Mapping[str, Any], ...] = ()
    finalizers: tuple[Str, ...] = ()
    managed_fields: tuple[Mapping[str, Any], ...] = ()
    self_link: Str | None = None
    cluster_name: Str | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        problems = Violations()
        problems.add(check_object_name(self.name), "name")
        if self.namespace is not None:
            problems.add(check_namespace(self.namespace), "namespace")
        problems.labels(self.labels, "labels")
        problems.raise_if_any()
        return self


class Document:
    """What every top-level document answers, Istio's or Kubernetes': ``name``,
    ``namespace``, the ``origin`` it was loaded from, and content equality.

    A plain mixin (listed first, before the pydantic base) so that both resource families
    share it; the subclasses declare ``metadata`` and the ``_origin`` slot.
    """

    __slots__ = ()
    metadata: ObjectMeta
    _origin: tuple[str, int] | None

    def __eq__(self, other: object) -> bool:
        """Equal when the content is: where a resource was loaded from does not count."""
        if not isinstance(other, BaseModel):
            return NotImplemented
        same_type: bool = type(self) is type(other)  # type: ignore[comparison-overlap]
        return (
            same_type
            and self.__dict__ == other.__dict__
            and getattr(self, "__pydantic_extra__", None) == other.__pydantic_extra__
        )

    __hash__ = BaseModel.__hash__

    def __copy__(self) -> Self:
        """pydantic's copy (``model_copy``), keeping the origin."""
        new: Self = super().__copy__()  # type: ignore[misc]
        return self._keep_origin(new)

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        new: Self = super().__deepcopy__(memo)  # type: ignore[misc]
        return self._keep_origin(new)

    def _keep_origin(self, new: Self) -> Self:
        origin = getattr(self, "_origin", None)
        if origin is not None:
            object.__setattr__(new, "_origin", origin)
        return new

    @property
    def origin(self) -> tuple[str | None, int | None]:
        """The file and document number this came from ((None, None) if unknown)."""
        origin: tuple[str, int] | None = getattr(self, "_origin", None)
        return origin if origin is not None else (None, None)

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        """``metadata.namespace``, or ``"default"`` as Kubernetes assumes when it is absent."""
        return self.metadata.namespace or "default"


class IstioResource(Document, IstioModel):
    """A top-level document: ``apiVersion``, ``kind``, ``metadata``, ``spec`` (and ``status``).

    Subclasses declare ``api_version``, ``kind`` and ``spec``; ``status`` is written by a
    control plane and accepted as is.
    """

    #: ``_origin``: (file, document number) the resource was loaded from, for locating later
    #: problems; set by the loader. A slot, not a pydantic private attribute: those live in
    #: a dict per resource (a third of the memory of a small resource).
    __slots__ = ("_origin",)

    metadata: ObjectMeta
    status: Mapping[str, Any] | None = None
