"""The CEL subset of access-log filters and metric tag values."""

from __future__ import annotations

import pytest

from inmesh.telemetry._cel import CelError, compile_filter, compile_tag_value
from tests.unit.telemetry.records import record

HEADERS = {"host": "reviews:9080", "user-agent": "Amazon-Route53-Health-Check-Service", "x-b": "1"}


@pytest.mark.parametrize(
    ("expression", "status", "expected"),
    [
        ("response.code >= 400", 503, True),
        ("response.code >= 400", 200, False),
        ("response.code == 200 && request.method == 'GET'", 200, True),
        ('response.code != 200 || request.method == "POST"', 200, False),
        ("!(response.code < 500)", 503, True),
        ("request.url_path.startsWith('/reviews')", 200, True),
        ("request.url_path.contains('v1beta3')", 200, False),
        ("request.headers['x-b'] == '1'", 200, True),
        ("request.headers['x-missing'] == '1'", 200, False),  # an error in CEL: not logged
        ("has(request.useragent)", 200, True),
        (
            "!has(request.useragent) || "
            "!(request.useragent.startsWith('Amazon-Route53-Health-Check-Service'))",
            200,
            False,
        ),
        ("connection.mtls", 200, False),
        ("response.code == '200'", 200, False),  # no overload for int == string
        ("xds.cluster_name.endsWith('reviews.default.svc.cluster.local')", 200, True),
        ("destination.port == 9080", 200, True),
    ],
)
def test_filters(expression: str, status: int, expected: bool) -> None:
    rec = record(status=status, request_headers=HEADERS, downstream_local_address="reviews:9080")
    assert compile_filter(expression)(rec) is expected


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("request.url_path.matches('x')", "method matches() is not supported yet"),
        ("size(request.headers) > 2", "function size() is not supported yet"),
        ("source.labels['app'] == 'x'", "attribute source.labels is not supported yet"),
        ("response.code >= ", "unexpected end of expression"),
        ("response.code >= 400 400", "unexpected '400'"),
        ("response.code ~ 1", "unexpected '~ 1'"),
        ("request.headers[x]", "request.headers takes a quoted header name"),
    ],
)
def test_refused_expressions_are_named(expression: str, says: str) -> None:
    with pytest.raises(CelError, match=says.replace("(", r"\(").replace(")", r"\)")):
        compile_filter(expression)


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("request.host", "reviews:9080"),
        ("request.method", "GET"),
        ("'literal'", "literal"),
        ("string(response.code)", "200"),
        ("string(connection.mtls)", "false"),
        ("request.headers['x-b']", "1"),
        ("request.headers['x-missing']", "unknown"),  # Istio's stats filter: unknown
    ],
)
def test_tag_values(expression: str, value: str) -> None:
    assert compile_tag_value(expression)(record(request_headers=HEADERS)) == value


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("request.url_path", "request.url_path as a metric label is not supported"),
        ("request.id", "request.id as a metric label is not supported"),
        ("response.code >= 400", "only a string literal, an attribute or string"),
    ],
)
def test_tag_values_beyond_the_subset_are_refused(expression: str, says: str) -> None:
    with pytest.raises(CelError, match=says):
        compile_tag_value(expression)


def test_a_comparison_inside_string_is_not_a_tag_value() -> None:
    with pytest.raises(CelError, match="only a string literal"):
        compile_tag_value("string(response.code) == '200'")
