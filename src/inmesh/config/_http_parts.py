"""HTTPRoute policies with rules of their own: retries, fault injection, CORS."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator
from typing_extensions import Self

from inmesh._errors import ConfigError
from inmesh.config._base import Bool, Int32, IstioModel, Str, Violations
from inmesh.config._common import Percent, StringMatch, check_percentage
from inmesh.config._duration import Duration, MsDuration
from inmesh.config._names import check_header_name
from inmesh.resilience._retry import parse_retry_on

__all__ = ["CorsPolicy", "FaultAbort", "FaultDelay", "HTTPFaultInjection", "HTTPRetry"]

# istio/pkg/util/grpc SupportedGRPCStatus.
GRPC_STATUSES = frozenset(
    {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    }
)
# validation.go supportedMethods (Go's net/http method names).
HTTP_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE"}
)


def _check_http_status(status: int) -> str | None:
    # validation.go validateHTTPStatus.
    if status < 200 or status > 600:
        return f"HTTP status {status} is not in range 200-599"
    return None


class HTTPRetry(IstioModel):
    """How often and on what to retry a request (``retryOn`` uses Envoy's policy names)."""

    attempts: Int32 | None = None
    per_try_timeout: MsDuration | None = None
    retry_on: Str | None = None
    retry_remote_localities: Bool | None = None
    retry_ignore_previous_hosts: Bool | None = None
    backoff: Duration | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go validateHTTPRetry.
        problems = Violations()
        attempts = self.attempts or 0
        if attempts < 0:
            problems.add("attempts cannot be negative", "attempts")
        if attempts == 0 and (
            self.per_try_timeout is not None
            or self.retry_on
            or self.retry_remote_localities is not None
        ):
            problems.add(
                "http retry policy configured when attempts are set to 0 (disabled)", "attempts"
            )
        if self.retry_on:
            # validation.go's retryOn check; parsed and validated in one place, the
            # resilience layer's parser (the one the runtime compiles the policy with)
            try:
                parse_retry_on(self.retry_on)
            except ConfigError as exc:
                for problem in exc.problems:
                    problems.add(problem.message, "retryOn")
        problems.raise_if_any()
        return self


class FaultDelay(IstioModel):
    """Delay a percentage of requests by ``fixedDelay`` before forwarding."""

    fixed_delay: MsDuration | None = None
    exponential_delay: MsDuration | None = None
    percentage: Percent | None = None
    #: Deprecated integer percentage; use ``percentage``.
    percent: Int32 | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go validateHTTPFaultInjectionDelay.
        problems = Violations()
        if self.fixed_delay is not None and self.exponential_delay is not None:
            problems.add("only one of fixedDelay or exponentialDelay may be set")
        # Istio's validation also refuses exponentialDelay ("not supported yet"); inmesh
        # states that once, in its support table (inmesh.config._support).
        problems.add(check_percentage(self.percentage), "percentage", "value")
        if self.percent is not None and not 0 <= self.percent <= 100:
            problems.add(f"percentage {self.percent} is not in range 0..100", "percent")
        problems.raise_if_any()
        return self


class FaultAbort(IstioModel):
    """End a percentage of requests early with ``httpStatus`` (or a ``grpcStatus``)."""

    http_status: Int32 | None = None
    grpc_status: Str | None = None
    http2_error: Str | None = None
    percentage: Percent | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go validateHTTPFaultInjectionAbort; the error type is a oneof.
        problems = Violations()
        chosen = [
            n
            for n, v in (
                ("httpStatus", self.http_status),
                ("grpcStatus", self.grpc_status),
                ("http2Error", self.http2_error),
            )
            if v is not None
        ]
        if len(chosen) > 1:
            problems.add(
                f"only one of httpStatus, grpcStatus or http2Error may be set, got "
                f"{' and '.join(chosen)}"
            )
        problems.add(check_percentage(self.percentage), "percentage", "value")
        if self.http_status is not None:
            problems.add(_check_http_status(self.http_status), "httpStatus")
        if self.grpc_status is not None and self.grpc_status not in GRPC_STATUSES:
            problems.add(
                f"gRPC status {self.grpc_status!r} is not supported; expected one of "
                f"{', '.join(sorted(GRPC_STATUSES))}",
                "grpcStatus",
            )
        # Istio's validation also refuses http2Error ("not supported yet"); inmesh states
        # that once, in its support table (inmesh.config._support), with grpcStatus.
        problems.raise_if_any()
        return self


class HTTPFaultInjection(IstioModel):
    """Inject delays and/or aborts, to test how callers cope."""

    delay: FaultDelay | None = None
    abort: FaultAbort | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        problems = Violations()
        if self.delay is None and self.abort is None:
            problems.add("HTTP fault injection must have an abort and/or a delay")
        problems.raise_if_any()
        return self


class CorsPolicy(IstioModel):
    """Cross-origin resource sharing rules for browsers."""

    allow_origin: tuple[Str, ...] = ()
    allow_origins: tuple[StringMatch, ...] = ()
    allow_methods: tuple[Str, ...] = ()
    allow_headers: tuple[Str, ...] = ()
    expose_headers: tuple[Str, ...] = ()
    max_age: Duration | None = None
    allow_credentials: Bool | None = None
    unmatched_preflights: Literal["UNSPECIFIED", "FORWARD", "IGNORE"] | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        # validation.go validateCORSPolicy.
        problems = Violations()
        for i, origin in enumerate(self.allow_origins):
            if not (origin.exact or origin.prefix or origin.regex):
                problems.add(
                    "an empty match is not a valid match type for CORS allow origins",
                    "allowOrigins",
                    i,
                )
        for i, method in enumerate(self.allow_methods):
            if method not in HTTP_METHODS:
                problems.add(
                    f"{method!r} is not a supported HTTP method; expected one of "
                    f"{', '.join(sorted(HTTP_METHODS))}",
                    "allowMethods",
                    i,
                )
        for field, alias in (
            ("allow_headers", "allowHeaders"),
            ("expose_headers", "exposeHeaders"),
        ):
            for i, name in enumerate(getattr(self, field)):
                if name != "*":
                    problems.add(check_header_name(name), alias, i)
        if self.max_age is not None and self.max_age != int(self.max_age):
            problems.add("max_age duration is accurate only to seconds precision", "maxAge")
        problems.raise_if_any()
        return self
