"""Istio duration strings <-> float seconds.

Istio's YAML writes durations as Go duration strings (``"10s"``, ``"0.5s"``, ``"100ms"``,
``"1h30m"``); inmesh holds them as ``float`` seconds. Parsing goes through integer
nanoseconds so that ``parse_duration(format_duration(x)) == x`` for every duration with
nanosecond resolution.

Istio's CRDs add ``duration(self) >= duration('1ms')`` to every ``google.protobuf.Duration``
field ("must be a valid duration greater than 1ms"), and ``validation.go``'s
``ValidateDuration`` also rejects sub-millisecond precision on the fields it checks; the
two annotated types :data:`Duration` and :data:`MsDuration` carry those rules.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Annotated

from pydantic import PlainSerializer, PlainValidator, ValidationInfo

__all__ = [
    "Duration",
    "MsDuration",
    "format_duration",
    "parse_duration",
    "parse_duration_ns",
]

NS_PER_SECOND = 1_000_000_000
NS_PER_MS = 1_000_000

# Go's time.ParseDuration units.
_UNITS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign
    "\u03bcs": 1_000,  # Greek mu
    "ms": NS_PER_MS,
    "s": NS_PER_SECOND,
    "m": 60 * NS_PER_SECOND,
    "h": 3600 * NS_PER_SECOND,
}
_TERM = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_EXPECTED = "expected a duration such as '10s', '0.5s', '100ms' or '1h30m'"


def parse_duration_ns(text: str) -> int:
    """Parse a Go/Istio duration string into integer nanoseconds.

    Follows Go's ``time.ParseDuration``: a sequence of decimal numbers, each with an
    optional fraction and a unit (ns, us, ms, s, m, h); ``"0"`` alone is allowed. Negative
    durations are rejected because no Istio duration field accepts them.
    """
    if not isinstance(text, str):
        raise ValueError(_EXPECTED)
    body = text
    if body.startswith("-"):
        raise ValueError(f"negative duration {text!r} is not allowed")
    if body.startswith("+"):
        body = body[1:]
    if body == "0":
        return 0
    if not body:
        raise ValueError(f"empty duration; {_EXPECTED}")
    total = Decimal(0)
    pos = 0
    while pos < len(body):
        term = _TERM.match(body, pos)
        if term is None:
            raise ValueError(f"invalid duration {text!r}; {_EXPECTED}")
        total += Decimal(term.group(1)) * _UNITS[term.group(2)]
        pos = term.end()
    return int(total)  # Go truncates fractions of a nanosecond


def parse_duration(text: str) -> float:
    """Parse a Go/Istio duration string into float seconds."""
    return parse_duration_ns(text) / NS_PER_SECOND


def _seconds_to_ns(seconds: float) -> int:
    try:
        exact = Decimal(repr(float(seconds)))
    except InvalidOperation as exc:  # nan / inf
        raise ValueError(f"invalid duration {seconds!r}; {_EXPECTED}") from exc
    if not exact.is_finite():
        raise ValueError(f"invalid duration {seconds!r}; {_EXPECTED}")
    return int((exact * NS_PER_SECOND).to_integral_value(rounding=ROUND_HALF_EVEN))


def format_duration(seconds: float) -> str:
    """Format float seconds as Istio writes a duration: ``"10s"``, ``"0.5s"``, ``"0.001s"``."""
    nanos = _seconds_to_ns(seconds)
    sign = "-" if nanos < 0 else ""
    whole, frac = divmod(abs(nanos), NS_PER_SECOND)
    if frac == 0:
        return f"{sign}{whole}s"
    return f"{sign}{whole}.{frac:09d}".rstrip("0") + "s"


def _from_documents(info: ValidationInfo) -> bool:
    context = info.context
    return isinstance(context, dict) and context.get("inmesh_source") == "document"


def _to_ns(value: object, info: ValidationInfo) -> int:
    if isinstance(value, str):
        return parse_duration_ns(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # Istio's YAML only has duration strings; seconds as numbers are a Python convenience.
        if _from_documents(info):
            raise ValueError(f"{_EXPECTED} (a string), got the number {value!r}")
        nanos = _seconds_to_ns(value)
        if nanos < 0:
            raise ValueError(f"negative duration {value!r} is not allowed")
        return nanos
    raise ValueError(_EXPECTED)


def _validate_duration(value: object, info: ValidationInfo) -> float:
    nanos = _to_ns(value, info)
    # Istio CRD rule on every Duration field: duration(self) >= duration('1ms').
    if nanos < NS_PER_MS:
        raise ValueError("must be a valid duration greater than 1ms")
    return nanos / NS_PER_SECOND


def _validate_ms_duration(value: object, info: ValidationInfo) -> float:
    seconds = _validate_duration(value, info)
    # validation.go ValidateDuration: "only durations to ms precision are supported".
    if _to_ns(value, info) % NS_PER_MS:
        raise ValueError("only durations to ms precision are supported")
    return seconds


def _validate_zero_ok_duration(value: object, info: ValidationInfo) -> float:
    # HTTPCookie.ttl opts out of the 1ms rule: "If the TTL is present and zero, the
    # generated cookie will be a session cookie" (Istio's DestinationRule reference shows
    # `ttl: 0s`).
    return _to_ns(value, info) / NS_PER_SECOND


_SERIALIZER = PlainSerializer(format_duration, return_type=str, when_used="json")

#: A duration field: YAML string in, float seconds in Python, at least 1ms.
Duration = Annotated[float, PlainValidator(_validate_duration), _SERIALIZER]
#: A duration field where zero is meaningful (HTTPCookie.ttl: a session cookie).
ZeroOkDuration = Annotated[float, PlainValidator(_validate_zero_ok_duration), _SERIALIZER]
#: A duration field Istio's validation.go also limits to millisecond precision.
MsDuration = Annotated[float, PlainValidator(_validate_ms_duration), _SERIALIZER]
