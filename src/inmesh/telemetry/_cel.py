"""The subset of CEL that Telemetry resources use, evaluated against a RequestRecord.

Istio's Telemetry API takes CEL expressions over Envoy's attributes in two places: a
metric ``tagOverrides[].value`` (``request.host``, ``request.headers['x']``) and an access
log ``filter.expression`` (``response.code >= 400``). This module compiles the subset
below once, at configuration time, into a plain function of the record; anything else is
refused by name (:class:`CelError`), never ignored.

- attributes (Envoy's names, https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/advanced/attributes):
  ``request.method``, ``request.host``, ``request.url_path``, ``request.useragent``,
  ``request.id``, ``request.protocol``, ``request.size``, ``request.headers['name']``,
  ``response.code``, ``response.code_details``, ``response.size``, ``connection.mtls``,
  ``upstream.address``, ``destination.port``, ``xds.cluster_name``, ``xds.route_name``;
- literals: integers, ``'strings'``/``"strings"``, ``true``, ``false``;
- ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``&&``, ``||``, ``!``, parentheses;
- ``has(attribute)``, ``string(x)``, ``s.startsWith('p')``, ``s.endsWith('p')``,
  ``s.contains('p')``.

A missing attribute (a header not sent) is an evaluation error in CEL: a filter is then
false (Envoy's CEL access-log filter logs nothing on an error) and a tag value is
``unknown`` (Istio's stats filter).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ._record import RequestRecord

__all__ = ["BOUNDED_ATTRIBUTES", "CelError", "Expression", "compile_filter", "compile_tag_value"]

Expression = Callable[[RequestRecord], Any]


class CelError(ValueError):
    """An expression outside the supported subset, or malformed."""


def _port(rec: RequestRecord) -> int | None:
    _, sep, port = rec.downstream_local_address.rpartition(":")
    return int(port) if sep and port.isdigit() else None


def _or_none(value: str) -> str | None:
    return value or None


#: Envoy attribute -> how to read it from a record (None: not available).
_ATTRIBUTES: dict[str, Expression] = {
    "request.method": lambda r: r.method,
    "request.host": lambda r: _or_none(r.authority),
    "request.url_path": lambda r: r.path,
    "request.useragent": lambda r: _or_none(r.user_agent),
    "request.id": lambda r: _or_none(r.request_id),
    "request.protocol": lambda r: _or_none(r.protocol),
    "request.size": lambda r: r.request_bytes,
    "response.code": lambda r: r.status,
    "response.code_details": lambda r: _or_none(r.details),
    "response.size": lambda r: r.response_bytes,
    "connection.mtls": lambda r: r.connection_security_policy == "mutual_tls",
    "upstream.address": lambda r: _or_none(r.destination_endpoint),
    "destination.port": _port,
    "xds.cluster_name": lambda r: _or_none(r.cluster),
    "xds.route_name": lambda r: _or_none(r.route_name),
}
#: Attributes a metric label may take its value from: their values are few (a path or a
#: request id as a label would grow the series without bound).
BOUNDED_ATTRIBUTES = frozenset(
    {
        "request.method",
        "request.host",
        "request.protocol",
        "response.code",
        "response.code_details",
        "connection.mtls",
        "upstream.address",
        "destination.port",
        "xds.cluster_name",
        "xds.route_name",
    }
)

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>\d+)(?![\w.])
    | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\].,])
    | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_METHODS: dict[str, Callable[[str, str], bool]] = {
    "startsWith": str.startswith,
    "endsWith": str.endswith,
    "contains": str.__contains__,
}


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise CelError(f"unexpected {text[pos:].strip()[:20]!r}")
        kind = m.lastgroup
        assert kind is not None
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


class _Parser:
    """Recursive descent over the tokens; every rule returns a function of the record."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0
        #: the attributes the expression reads (for the cardinality check of tag values)
        self.attributes: list[str] = []

    def peek(self) -> str | None:
        return self.toks[self.i][1] if self.i < len(self.toks) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.i >= len(self.toks):
            raise CelError(
                f"unexpected end of expression{f', expected {expected!r}' if expected else ''}"
            )
        tok = self.toks[self.i]
        if expected is not None and tok[1] != expected:
            raise CelError(f"expected {expected!r}, found {tok[1]!r}")
        self.i += 1
        return tok

    def parse(self) -> Expression:
        expr = self.disjunction()
        if self.i != len(self.toks):
            raise CelError(f"unexpected {self.toks[self.i][1]!r}")
        return expr

    def disjunction(self) -> Expression:
        left = self.conjunction()
        while self.peek() == "||":
            self.take()
            left = _either(left, self.conjunction())
        return left

    def conjunction(self) -> Expression:
        left = self.unary()
        while self.peek() == "&&":
            self.take()
            left = _both(left, self.unary())
        return left

    def unary(self) -> Expression:
        if self.peek() == "!":
            self.take()
            inner = self.unary()
            return lambda r: not _truth(inner(r))
        return self.comparison()

    def comparison(self) -> Expression:
        left = self.primary()
        op = self.peek()
        if op in _COMPARE:
            self.take()
            right = self.primary()
            compare = _COMPARE[op]

            def compared(r: RequestRecord) -> bool:
                a, b = left(r), right(r)
                if a is None or b is None or isinstance(a, bool) != isinstance(b, bool):
                    return False  # CEL: no such key / no matching overload: an error
                if isinstance(a, str) != isinstance(b, str):
                    return False
                return compare(a, b)

            return compared
        return left

    def primary(self) -> Expression:
        kind, value = self.take()
        if value == "(":
            inner = self.disjunction()
            self.take(")")
            return inner
        if kind == "num":
            number = int(value)
            return lambda r: number
        if kind == "str":
            text = _unquote(value)
            return lambda r: text
        if kind != "id":
            raise CelError(f"unexpected {value!r}")
        if value in ("true", "false"):
            flag = value == "true"
            return lambda r: flag
        if value in ("has", "string") and self.peek() == "(":
            self.take("(")
            if value == "has":
                attr = self.attribute(self.take()[1])
                self.take(")")
                return lambda r: attr(r) is not None
            inner = self.disjunction()
            self.take(")")
            return lambda r: _string(inner(r))
        if self.peek() == "(":
            raise CelError(f"function {value}() is not supported yet")
        return self.methods(self.attribute(value))

    def attribute(self, head: str) -> Expression:
        name = head
        while self.peek() == ".":
            self.take()
            part = self.take()[1]
            if self.peek() == "(":  # a method call on the attribute so far
                self.i -= 2
                break
            name = f"{name}.{part}"
        if name == "request.headers":
            self.take("[")
            kind, key = self.take()
            if kind != "str":
                raise CelError("request.headers takes a quoted header name")
            self.take("]")
            header = _unquote(key).lower()
            self.attributes.append(f"request.headers[{header!r}]")
            return lambda r: r.request_headers.get(header)
        getter = _ATTRIBUTES.get(name)
        if getter is None:
            raise CelError(f"attribute {name} is not supported yet")
        self.attributes.append(name)
        return getter

    def methods(self, target: Expression) -> Expression:
        while self.peek() == ".":
            self.take()
            name = self.take()[1]
            method = _METHODS.get(name)
            if method is None:
                raise CelError(f"method {name}() is not supported yet")
            self.take("(")
            kind, arg = self.take()
            if kind != "str":
                raise CelError(f"{name}() takes a string literal")
            self.take(")")
            target = _call(method, target, _unquote(arg))
        return target


def _either(a: Expression, b: Expression) -> Expression:
    return lambda r: _truth(a(r)) or _truth(b(r))


def _both(a: Expression, b: Expression) -> Expression:
    return lambda r: _truth(a(r)) and _truth(b(r))


def _call(method: Callable[[str, str], bool], target: Expression, arg: str) -> Expression:
    def called(r: RequestRecord) -> bool | None:
        value = target(r)
        return method(value, arg) if isinstance(value, str) else None

    return called


def _truth(value: Any) -> bool:
    return value is True


def _string(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def compile_filter(text: str) -> Expression:
    """An access-log ``filter.expression``: a function true for the records to log."""
    inner = _Parser(text).parse()
    return lambda r: inner(r) is True


def compile_tag_value(text: str) -> Expression:
    """A metric ``tagOverrides[].value``: a string literal, an attribute of few values
    (:data:`BOUNDED_ATTRIBUTES`), a request header, or ``string(...)`` of one; the result
    is the label's value (``unknown`` when the attribute is missing)."""
    parser = _Parser(text)
    expr = parser.parse()
    toks = parser.toks
    if len(toks) >= 4 and toks[0][1] == "string" and toks[1][1] == "(" and toks[-1][1] == ")":
        toks = toks[2:-1]
    if not _is_attribute_only(toks):
        raise CelError("only a string literal, an attribute or string(attribute) is supported yet")
    for attr in parser.attributes:
        if attr not in BOUNDED_ATTRIBUTES and not attr.startswith("request.headers["):
            raise CelError(f"{attr} as a metric label is not supported (unbounded values)")

    def value(r: RequestRecord) -> str:
        result = _string(expr(r))
        return "unknown" if result is None else result

    return value


def _is_attribute_only(toks: list[tuple[str, str]]) -> bool:
    """``'literal'``, ``a.b.c`` or ``request.headers['x']``: identifiers, dots, an index."""
    return all(kind in ("id", "str", "num") or val in (".", "[", "]") for kind, val in toks)
