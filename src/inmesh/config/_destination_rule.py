"""DestinationRule (networking.istio.io): subsets of a host and the policies for its traffic."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field, field_validator, model_validator
from typing_extensions import Self

from inmesh.config._base import IstioModel, IstioResource, Str, Violations
from inmesh.config._common import NetworkingVersion, WorkloadSelector
from inmesh.config._names import check_dns1123_label, check_export_to, check_wildcard_domain
from inmesh.config._traffic_policy import TrafficPolicy

__all__ = ["DestinationRule", "DestinationRuleSpec", "Subset"]


class Subset(IstioModel):
    """A named group of a host's endpoints, selected by ``labels``, with its own policy."""

    name: Str
    labels: Mapping[str, Str] = Field(default_factory=dict)
    traffic_policy: TrafficPolicy | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go validateSubset.
        problems = Violations()
        problems.add(
            "subset name cannot be empty"
            if not self.name
            else check_dns1123_label(self.name, "subset name"),
            "name",
        )
        problems.labels(self.labels, "labels")
        problems.raise_if_any()
        return self


class DestinationRuleSpec(IstioModel):
    """Policies for traffic to ``host`` after routing (``networking.v1alpha3.DestinationRule``)."""

    host: Str
    traffic_policy: TrafficPolicy | None = None
    subsets: tuple[Subset, ...] = ()
    export_to: tuple[Str, ...] = ()
    workload_selector: WorkloadSelector | None = None

    @field_validator("subsets")
    @classmethod
    def _unique_subsets(cls, subsets: tuple[Subset, ...]) -> tuple[Subset, ...]:
        # validation.go ValidateDestinationRule: "duplicate subset names". A field validator,
        # so it runs even when another field of the spec is invalid.
        problems = Violations()
        seen: set[str] = set()
        for i, subset in enumerate(subsets):
            if subset.name in seen:
                problems.add(
                    f"duplicate subset names: {subset.name!r}; each subset needs a unique name",
                    i,
                    "name",
                )
            seen.add(subset.name)
        problems.raise_if_any()
        return subsets

    @field_validator("host")
    @classmethod
    def _check_host(cls, host: str) -> str:
        problems = Violations()
        problems.add(check_wildcard_domain(host))
        problems.raise_if_any()
        return host

    @field_validator("export_to")
    @classmethod
    def _check_export_to(cls, export_to: tuple[str, ...]) -> tuple[str, ...]:
        problems = Violations()
        for i, message in check_export_to(export_to, allow_none=False):
            problems.add(message, i)
        problems.raise_if_any()
        return export_to

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go ValidateDestinationRule.
        problems = Violations()
        if self.workload_selector is not None and any(e not in (".",) for e in self.export_to):
            problems.add(
                "destination rule with workload selector cannot have exportTo beyond "
                "current namespace",
                "exportTo",
            )
        problems.raise_if_any()
        return self

    def subset(self, name: str) -> Subset | None:
        """The subset called ``name``, if declared."""
        for subset in self.subsets:
            if subset.name == name:
                return subset
        return None


class DestinationRule(IstioResource):
    """``networking.istio.io`` DestinationRule: subsets and traffic policy for one host."""

    api_version: NetworkingVersion = Field(default="networking.istio.io/v1", alias="apiVersion")
    kind: Literal["DestinationRule"] = "DestinationRule"
    spec: DestinationRuleSpec
