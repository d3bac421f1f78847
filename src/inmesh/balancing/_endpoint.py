"""An endpoint: one address a destination service can be reached at."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One workload instance of a service, on one port.

    ``locality`` is Istio's ``region/zone/subzone`` (any suffix may be empty);
    ``weight`` is the WorkloadEntry weight (relative, >= 1).
    """

    address: str
    port: int
    labels: Mapping[str, str] = field(default_factory=dict)
    locality: str = ""
    weight: int = 1
    service_account: str | None = None
    network: str = ""
    #: ``address:port``: the identity of the endpoint across snapshots (computed once: the
    #: request path reads it several times per request).
    key: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.address}:{self.port}")

    def __hash__(self) -> int:
        # The generated hash would fail on the ``labels`` dict; endpoints equal as
        # dataclasses share address and port, so hashing those is consistent with ==.
        return hash((self.address, self.port))
