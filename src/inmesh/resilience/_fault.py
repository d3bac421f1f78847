"""Istio's ``HTTPFaultInjection``: delay and/or abort a share of a route's requests.

Translation follows Istio's ``TranslateFault`` (pilot/pkg/networking/core/route/route.go):

- ``delay.percentage`` becomes an Envoy fraction per million (``uint32(value * 10000)``);
  unset, the deprecated integer ``percent`` is used, and when both are unset that is 0: no
  request is delayed ("If left unspecified, no request will be delayed").
- ``abort.percentage`` likewise; unset, Envoy's ``FaultAbort.percentage`` is an empty
  fraction, 0 %: no request is aborted ("If not specified, no request will be aborted").
- Delay and abort are independent draws (Envoy's fault filter checks each with
  ``featureEnabled``); when both hit, the delay is served first, then the abort.
- ``abort.grpcStatus``, ``abort.http2Error`` and ``delay.exponentialDelay`` are not
  supported yet: the support table (``inmesh.config.unsupported_problems``) refuses them
  before a policy is built, so here a delay needs ``fixedDelay`` and an abort ``httpStatus``.

Istio's VirtualService reference says "timeouts or retries will not be enabled when faults
are enabled on the client side". Istio's route translation still sets the route's timeout
and retry policy; the sentence holds because Envoy's fault filter "must be inserted before
any other filter, including the router filter": a fault is decided once per request,
before the route timeout starts and before the retry loop. So the transport does, per
request: ``delay, status = fault.decide(rng)``; sleep ``delay`` (flag DI) *before* starting
the :class:`~inmesh.resilience.Deadline`; if ``status`` is set, answer it at once with body
:data:`ABORT_BODY` (flag FI): never retried, never sent upstream, never counted by outlier
detection. Requests the fault spares get the route's timeout and retries as usual.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Final

from .._errors import ConfigError, ConfigProblem

DELAY_FLAG: Final = "DI"
"""Envoy's response flag for a request delayed by fault injection."""
ABORT_FLAG: Final = "FI"
"""Envoy's response flag for a request aborted by fault injection."""
ABORT_BODY: Final = "fault filter abort"
"""The body Envoy's fault filter answers an aborted request with."""

_PER_MILLION: Final = 1_000_000


def _per_million(percentage: Any, legacy_percent: Any = None) -> int:
    """Istio's ``translatePercentToFractionalPercent`` (or the deprecated integer form)."""
    if percentage is not None:
        value = getattr(percentage, "value", percentage)
        return int(float(value or 0.0) * 10000)
    if legacy_percent:
        return int(legacy_percent) * 10000
    return 0


@dataclass(frozen=True, slots=True)
class FaultPolicy:
    """The fault of one route: delay ``delay`` seconds on ``delay_per_million`` of the
    requests, abort with ``abort_status`` on ``abort_per_million`` of them."""

    delay: float | None = None
    delay_per_million: int = 0
    abort_status: int | None = None
    abort_per_million: int = 0

    @classmethod
    def from_istio(cls, fault: Any | None, *, field_path: str = "fault") -> FaultPolicy | None:
        """The policy of a route's ``fault`` (duck-typed model), or ``None`` if it has none."""
        if fault is None:
            return None
        problems: list[ConfigProblem] = []
        delay_s: float | None = None
        delay_pm = 0
        d = getattr(fault, "delay", None)
        if d is not None:
            fixed = getattr(d, "fixed_delay", None)
            if fixed is None:
                problems.append(
                    ConfigProblem(
                        "fixedDelay is required",
                        field=f"{field_path}.delay.fixedDelay",
                    )
                )
            else:
                delay_s = float(fixed)
                delay_pm = _per_million(getattr(d, "percentage", None), getattr(d, "percent", None))
        status: int | None = None
        abort_pm = 0
        a = getattr(fault, "abort", None)
        if a is not None:
            http_status = getattr(a, "http_status", None)
            if http_status is None:
                problems.append(
                    ConfigProblem("abort needs httpStatus", field=f"{field_path}.abort.httpStatus")
                )
            elif not 200 <= int(http_status) <= 599:
                problems.append(
                    ConfigProblem(
                        f"abort.httpStatus must be between 200 and 599, got {http_status}",
                        field=f"{field_path}.abort.httpStatus",
                    )
                )
            else:
                status = int(http_status)
                abort_pm = _per_million(getattr(a, "percentage", None))
        if d is None and a is None:
            problems.append(
                ConfigProblem(
                    "HTTP fault injection must have an abort and/or a delay", field=field_path
                )
            )
        if problems:
            raise ConfigError(problems)
        return cls(
            delay=delay_s,
            delay_per_million=delay_pm,
            abort_status=status,
            abort_per_million=abort_pm,
        )

    def decide(self, rng: random.Random) -> tuple[float | None, int | None]:
        """For one request: (seconds to delay or ``None``, status to abort with or ``None``)."""
        delay = None
        if self.delay_per_million and rng.random() * _PER_MILLION < self.delay_per_million:
            delay = self.delay
        status = None
        if self.abort_per_million and rng.random() * _PER_MILLION < self.abort_per_million:
            status = self.abort_status
        return delay, status
