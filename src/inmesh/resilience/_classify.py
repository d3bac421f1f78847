"""One classification of attempt outcomes, shared by retries, outlier detection and stats.

Finagle's ``ResponseClassifier`` idea: the retry filter, failure accrual (here Envoy's outlier
detection) and the stats must never disagree about what a failure is, so all three ask this
module. An *outcome* is what one attempt to one endpoint produced: an HTTP status (``int``) or
a :class:`LocalFailure` when no response arrived.

The buckets follow Envoy's outlier detector (``DetectorHostMonitorImpl``): a 5xx status is an
external-origin error, 502/503/504 are also *gateway errors*; a connect failure, reset or
timeout is a *local-origin* failure, which Envoy maps to 503 (connect failure, reset) or 504
(timeout) unless ``split_external_local_origin_errors`` is set; an overflow (the mesh's own
circuit breaker said no) is never held against the endpoint (envoyproxy/envoy#25487).
"""

from __future__ import annotations

import enum
from typing import Final

from .._flags import (
    UPSTREAM_CONNECT_FAILURE,
    UPSTREAM_OVERFLOW,
    UPSTREAM_RESET,
    UPSTREAM_TIMEOUT,
    LocalReply,
)


class LocalFailure(str, enum.Enum):
    """Why an attempt produced no response (the transport's translation of the I/O error).

    ``reset_before_headers``: the connection closed or reset before response headers while
    the request may not have been fully written (whether it was is the ``request_sent``
    argument of the retry decision); ``reset_after_request_sent``: the same after the whole
    request was written. ``timeout`` is the *per-try* timeout; the route's overall deadline is
    the :class:`~inmesh.resilience.Deadline`'s business. ``overflow``: a connection-pool or
    retry circuit breaker of the mesh itself rejected the attempt (Envoy flag UO).
    """

    CONNECT_FAILURE = "connect_failure"
    CONNECT_TIMEOUT = "connect_timeout"
    RESET_BEFORE_HEADERS = "reset_before_headers"
    RESET_AFTER_REQUEST_SENT = "reset_after_request_sent"
    REFUSED_STREAM = "refused_stream"
    TIMEOUT = "timeout"
    OVERFLOW = "overflow"


Outcome = int | LocalFailure
"""What one attempt produced: an HTTP status, or why there was none."""


class Verdict(enum.IntEnum):
    """The bucket an outcome falls in, as Envoy's outlier detection and retry policies see it."""

    SUCCESS = 0
    """Any status below 500 (4xx included: Envoy resets the consecutive-5xx count on it)."""
    SERVER_ERROR = 1
    """A 5xx status other than the gateway errors."""
    GATEWAY_ERROR = 2
    """502, 503 or 504."""
    LOCAL_ORIGIN = 3
    """No response: connect failure, connect timeout, reset, refused stream, per-try timeout."""
    IGNORED = 4
    """The mesh's own overflow: counted against nobody."""


# Envoy's "remote refused stream reset" local reply; not in inmesh._flags since only the
# classifier produces it.
UPSTREAM_REFUSED_STREAM: Final = LocalReply(
    503,
    "upstream connect error or disconnect/reset before headers. reset reason: remote refused "
    "stream reset",
    "UR",
)

_GATEWAY_ERRORS: Final = frozenset({502, 503, 504})


class ResponseClassifier:
    """Maps an :data:`Outcome` to a :class:`Verdict` (and a local failure to its reply).

    Precomputed tables make :meth:`classify` one tuple index for a status; a single shared
    instance, :data:`CLASSIFIER`, is what every resilience piece uses.
    """

    __slots__ = ("_by_failure", "_by_status", "_equivalent", "_replies")

    def __init__(self) -> None:
        by_status = [Verdict.SUCCESS] * 600
        for code in range(500, 600):
            by_status[code] = (
                Verdict.GATEWAY_ERROR if code in _GATEWAY_ERRORS else Verdict.SERVER_ERROR
            )
        self._by_status: tuple[Verdict, ...] = tuple(by_status)
        self._by_failure: dict[LocalFailure, Verdict] = {
            f: (Verdict.IGNORED if f is LocalFailure.OVERFLOW else Verdict.LOCAL_ORIGIN)
            for f in LocalFailure
        }
        # Envoy's DetectorHostMonitorImpl::resultToHttpCode: LocalOriginTimeout -> 504,
        # LocalOriginConnectFailed -> 503. The router reports every non-overflow reset (and a
        # connect timeout, which the pool reports as a failed connect) as ConnectFailed, and a
        # per-try or global timeout as Timeout.
        self._equivalent: dict[LocalFailure, int] = {
            f: (504 if f is LocalFailure.TIMEOUT else 503) for f in LocalFailure
        }
        # The reply a sidecar sends when the last attempt ended this way (Envoy flags UF, UC,
        # UR, UT, UO).
        self._replies: dict[LocalFailure, LocalReply] = {
            LocalFailure.CONNECT_FAILURE: UPSTREAM_CONNECT_FAILURE,
            LocalFailure.CONNECT_TIMEOUT: UPSTREAM_CONNECT_FAILURE,
            LocalFailure.RESET_BEFORE_HEADERS: UPSTREAM_RESET,
            LocalFailure.RESET_AFTER_REQUEST_SENT: UPSTREAM_RESET,
            LocalFailure.REFUSED_STREAM: UPSTREAM_REFUSED_STREAM,
            LocalFailure.TIMEOUT: UPSTREAM_TIMEOUT,
            LocalFailure.OVERFLOW: UPSTREAM_OVERFLOW,
        }

    def classify(self, outcome: Outcome) -> Verdict:
        """The bucket of one attempt's outcome."""
        if isinstance(outcome, int):
            # Statuses outside 100..599 cannot come from httpx; treat them as non-errors.
            return self._by_status[outcome] if 0 <= outcome < 600 else Verdict.SUCCESS
        return self._by_failure[outcome]

    def equivalent_status(self, failure: LocalFailure) -> int:
        """The HTTP status Envoy's outlier detector counts a local-origin failure as."""
        return self._equivalent[failure]

    def local_reply(self, failure: LocalFailure) -> LocalReply:
        """What the mesh answers when the request ends on this failure."""
        return self._replies[failure]


CLASSIFIER: Final = ResponseClassifier()
"""The one classifier retries, outlier detection and stats share."""
