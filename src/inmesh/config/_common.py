"""Messages shared by several Istio resources: StringMatch, Percent, Destination, selectors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from pydantic import Field, PrivateAttr, model_validator
from typing_extensions import Self

from inmesh.config._base import Float, IstioModel, Port, Str, Violations
from inmesh.config._names import check_dns1123_label, check_wildcard_domain
from inmesh.config._regex import Re2Error, compile_re2

__all__ = [
    "Destination",
    "NetworkingVersion",
    "Percent",
    "PolicyTargetReference",
    "PortSelector",
    "StringMatch",
    "WorkloadSelector",
    "check_percentage",
    "check_selector_labels",
]

#: The apiVersions ``networking.istio.io`` kinds are served under.
NetworkingVersion = Literal[
    "networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"
]


class StringMatch(IstioModel):
    """Match a string exactly, by prefix, or by an RE2 regex (a *full* match, as Envoy does).

    At most one of ``exact``/``prefix``/``regex`` may be set (Istio's ``oneof``). An empty
    ``{}`` sets none, which for a header or query parameter means "present with any value".
    The compiled regex is :attr:`pattern`; use ``pattern.fullmatch(value)``.
    """

    exact: Str | None = None
    prefix: Str | None = None
    regex: Str | None = None
    _pattern: re.Pattern[str] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check(self) -> Self:
        problems = Violations()
        chosen = [name for name in ("exact", "prefix", "regex") if getattr(self, name) is not None]
        if len(chosen) > 1:
            problems.add(
                "only one of exact, prefix or regex may be set, got " + " and ".join(chosen)
            )
        if self.regex is not None:
            try:
                self._pattern = compile_re2(self.regex)
            except Re2Error as exc:
                problems.add(str(exc), "regex")
        problems.raise_if_any()
        return self

    @property
    def pattern(self) -> re.Pattern[str] | None:
        """The compiled ``regex`` (``None`` unless ``regex`` is set); use ``fullmatch``."""
        return self._pattern

    def matches(self, value: str, *, ignore_case: bool = False) -> bool:
        """Envoy's semantics: exact/prefix comparison (optionally case-insensitive), regex
        full match (``ignore_case`` does not apply to regex), ``{}`` matches any value."""
        if self.exact is not None:
            return value.lower() == self.exact.lower() if ignore_case else value == self.exact
        if self.prefix is not None:
            if ignore_case:
                return value.lower().startswith(self.prefix.lower())
            return value.startswith(self.prefix)
        if self._pattern is not None:
            return self._pattern.fullmatch(value) is not None
        return True


class Percent(IstioModel):
    """A percentage between 0.0 and 100.0 (Istio's ``Percent``)."""

    value: Float = 0.0


def check_percentage(percent: Percent | None) -> str | None:
    """validation.go validatePercentage: 0.0, or within [0.0001, 100.0]."""
    if percent is None:
        return None
    value = percent.value
    if value < 0.0 or value > 100.0 or 0.0 < value < 0.0001:
        return f"percentage {value} is neither 0.0, nor in range [0.0001, 100.0]"
    return None


class PortSelector(IstioModel):
    """A port of the destination service, by number."""

    number: Port


class Destination(IstioModel):
    """Where a request goes: a service ``host``, optionally one ``subset`` and ``port`` of it."""

    host: Str
    subset: Str | None = None
    port: PortSelector | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go validateDestination.
        problems = Violations()
        if self.host == "*":
            problems.add("invalid destination host '*'", "host")
        else:
            problems.add(check_wildcard_domain(self.host), "host")
        if self.subset is not None:
            problems.add(check_dns1123_label(self.subset, "subset name"), "subset")
        problems.raise_if_any()
        return self


def check_selector_labels(labels: Mapping[str, str], problems: Violations, *loc: str | int) -> None:
    """validateWorkloadSelector: no empty keys and no ``*`` wildcards."""
    for key, value in labels.items():
        if key == "":
            problems.add(f"empty key is not supported in selector: '={value}'", *loc)
        if "*" in key or "*" in value:
            problems.add(f"wildcard is not supported in selector: '{key}={value}'", *loc, key)


class WorkloadSelector(IstioModel):
    """Selects workloads by label (``istio.type.v1beta1.WorkloadSelector``)."""

    match_labels: Mapping[str, Str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Self:
        problems = Violations()
        check_selector_labels(self.match_labels, problems, "matchLabels")
        problems.raise_if_any()
        return self


_TARGET_KINDS = {
    ("", "Service"),
    ("core", "Service"),
    ("networking.istio.io", "ServiceEntry"),
    ("gateway.networking.k8s.io", "Gateway"),
}


class PolicyTargetReference(IstioModel):
    """A Kubernetes resource a policy attaches to (Service, ServiceEntry or Gateway)."""

    group: Str | None = None
    kind: Str
    name: Str
    namespace: Str | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go validatePolicyTargetReference.
        problems = Violations()
        if not self.name:
            problems.add("targetRef name must be set", "name")
        if self.namespace:
            problems.add(
                "targetRef namespace must not be set; cross namespace referencing is not supported",
                "namespace",
            )
        if (self.group or "", self.kind) not in _TARGET_KINDS:
            problems.add(
                f"targetRef must be to a core Service, a networking.istio.io "
                f"ServiceEntry or a gateway.networking.k8s.io Gateway, but was "
                f"{self.group or ''}/{self.kind}",
                "kind",
            )
        problems.raise_if_any()
        return self
