"""Fault rules: where a fault applies (:class:`Target`, matched against the
:class:`EndpointInfo` of a connection) and how often (:class:`Fault`: a percentage, the
first N, or a sequence); :class:`RouteFault` for Istio's own fault filter on a route."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._outcomes import CONNECT_PHASE, Outcome

if TYPE_CHECKING:
    from ._faults import FaultPlan


@dataclass(frozen=True, slots=True)
class EndpointInfo:
    """What the wire knows about an address: the workload instance listening there."""

    key: str
    #: names the endpoint answers to: short service name, FQDN, external host
    hosts: frozenset[str]
    labels: Mapping[str, str] = field(default_factory=dict)
    #: the workload instance (``reviews-v1-0``), or the external host
    name: str = ""


@dataclass(frozen=True, slots=True)
class Target:
    """Where a fault applies; every given field must match (None: any)."""

    service: str | None = None
    labels: Mapping[str, str] | None = None
    endpoint: str | None = None
    method: str | None = None
    path: str | None = None

    def matches(self, ep: EndpointInfo) -> bool:
        if self.service is not None and self.service not in ep.hosts:
            return False
        if self.endpoint is not None and self.endpoint not in (ep.key, ep.name):
            return False
        if self.labels:
            return all(ep.labels.get(k) == v for k, v in self.labels.items())
        return True

    def matches_request(self, method: str, path: str) -> bool:
        if self.method is not None and method.upper() != self.method.upper():
            return False
        return self.path is None or path.startswith(self.path)


class Fault:
    """One fault rule; ``with fault:`` (or ``fault.remove()``) ends it.

    ``hits`` counts the connections or requests it was applied to, ``seen`` those it
    matched (applied or not, by the percentage).
    """

    def __init__(
        self,
        plan: FaultPlan,
        target: Target,
        outcomes: Sequence[Outcome | None],
        *,
        percentage: float,
        first: int | None,
        sequence: bool,
        describe: str,
    ) -> None:
        if not 0.0 <= percentage <= 100.0:
            raise ValueError(f"percentage must be between 0 and 100, not {percentage}")
        if first is not None and first < 0:
            raise ValueError(f"first must be 0 or more, not {first}")
        self._plan = plan
        self.target = target
        self.outcomes = tuple(outcomes)
        self.percentage = percentage
        self.first = first
        self.sequence = sequence
        self.describe = describe
        self.hits = 0
        self.seen = 0
        #: the connect phase (refused, TLS, DNS) or the request phase
        self.connect_phase = all(isinstance(o, CONNECT_PHASE) for o in self.outcomes if o)
        if not self.connect_phase and any(isinstance(o, CONNECT_PHASE) for o in self.outcomes):
            raise ValueError(
                "a sequence mixes connect-phase outcomes (refused, TLS, DNS) with request "
                "outcomes: make two faults"
            )

    def decide(self, rng: Any) -> Outcome | None:
        """The outcome for one more matching connection or request (None: pass)."""
        self.seen += 1
        if self.sequence:
            if self.seen > len(self.outcomes):
                return None
            out = self.outcomes[self.seen - 1]
            if out is not None:
                self.hits += 1
            return out
        if self.first is not None and self.hits >= self.first:
            return None
        if self.percentage < 100.0 and rng.random() * 100.0 >= self.percentage:
            return None
        self.hits += 1
        return self.outcomes[0]

    @property
    def exhausted(self) -> bool:
        if self.sequence:
            return self.seen >= len(self.outcomes)
        return self.first is not None and self.hits >= self.first

    def remove(self) -> None:
        """End this fault (idempotent)."""
        self._plan.discard(self)

    def __enter__(self) -> Fault:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"<Fault {self.describe} hits={self.hits}>"


class RouteFault:
    """A fault on a VirtualService route, injected by Istio's own fault filter: the route's
    ``fault`` (abort or delay, with its percentage) is set and pushed to every workload,
    so the requests get Envoy's ``FI``/``DI`` flags; ``remove()`` (or the end of the
    ``with`` block) pushes the route back without it."""

    def __init__(self, plan: FaultPlan, route: str, fault: Mapping[str, Any], describe: str):
        self._plan = plan
        self.route = route
        self.fault = dict(fault)
        self.describe = describe

    def remove(self) -> None:
        self._plan.discard_route(self)

    def __enter__(self) -> RouteFault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"<RouteFault {self.describe}>"
