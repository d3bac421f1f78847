"""The checks `inmesh serve` runs on its options: every problem, each naming its option."""

from __future__ import annotations

from typing import Any

import pytest

from inmesh._serve_options import ServeOptions

GOOD: dict[str, Any] = {
    "app": "reviews:app",
    "service": "reviews",
    "version": "v1",
    "namespace": "default",
    "host": "127.0.0.1",
    "port": 0,
    "registry": "http://127.0.0.1:15010",
    "drain": 2.0,
    "ttl": 10.0,
}


def problems(**changes: Any) -> list[str]:
    return ServeOptions(**{**GOOD, **changes}).problems()


def test_good_options_have_no_problem() -> None:
    assert problems() == []
    assert problems(version=None, host="localhost", port=65535, drain=0, ttl=300) == []
    assert problems(registry="https://registry.example:8443/", version="v1.2_rc-3") == []
    assert problems(access_log="json") == problems(access_log="text") == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"version": "v 1!"},
            "--version: invalid label value 'v 1!' "
            "(alphanumerics, '-', '_' and '.', at most 63 characters)",
        ),
        ({"version": "v" * 64}, "--version: invalid label value"),
        ({"service": "Reviews"}, "--service 'Reviews': not a valid DNS-1123 label"),
        ({"service": "re.views"}, "--service 're.views': not a valid DNS-1123 label"),
        ({"namespace": "Prod"}, "--namespace: namespace 'Prod' is not a valid DNS-1123 label"),
        ({"app": "reviews"}, "APP 'reviews': expected module:attribute"),
        ({"host": "not a host"}, "--host 'not a host': not an IP address or a host name"),
        ({"port": 65536}, "--port 65536: must be between 0 (any free port) and 65535"),
        ({"port": -1}, "--port -1: must be between 0"),
        ({"registry": "127.0.0.1:15010"}, "--registry '127.0.0.1:15010': not a valid URL"),
        ({"registry": "http://host:99999"}, "--registry 'http://host:99999': not a valid URL"),
        ({"drain": -1.0}, "--drain -1: must be a number of seconds, 0 or more"),
        ({"drain": float("nan")}, "--drain nan: must be a number of seconds"),
        ({"ttl": 0.5}, "--ttl 0.5: must be between 1 and 300 seconds"),
        ({"access_log": "xml"}, "--access-log 'xml': expected off, text or json"),
    ],
)
def test_each_bad_option_is_named(changes: dict[str, Any], expected: str) -> None:
    found = problems(**changes)
    assert len(found) == 1, found
    assert found[0].startswith(expected), found


def test_every_problem_is_reported_at_once() -> None:
    found = problems(service="A_B", version="v 1", port=-5, ttl=0, registry="nope")
    assert [p.split()[0] for p in found] == [
        "--service",
        "--version:",
        "--port",
        "--registry",
        "--ttl",
    ]
