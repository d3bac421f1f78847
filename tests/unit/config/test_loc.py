"""Field locations and finding values at table paths."""

from __future__ import annotations

from typing import Any

from inmesh.config._loc import find_values, format_loc

DATA: dict[str, Any] = {
    "spec": {
        "http": [
            {"corsPolicy": {"allowOrigins": [1]}, "mirror": {"host": "a"}},
            {"mirror": {"host": "b"}, "headers": {"x-a": {"set": 1}, "x-b": {}}},
        ],
        "tcp": [{"route": []}],
    }
}
PATHS = (
    "spec.http[].corsPolicy",
    "spec.http[].mirror.host",
    "spec.http[].headers.*.set",
    "spec.tcp[].route",
    "spec.tls[].match",
    "spec.http[].mirror.host",  # a path given twice finds the same twice
)


def test_find_values_finds_every_match_of_a_path_in_order() -> None:
    found = [list(find_values(DATA, p)) for p in PATHS]
    assert [format_loc(loc) for loc, _ in found[1]] == [
        "spec.http[0].mirror.host",
        "spec.http[1].mirror.host",
    ]
    assert found[2] == [(("spec", "http", 1, "headers", "x-a", "set"), 1)]
    assert found[4] == [] and found[5] == found[1]


def test_format_loc_brackets_keys_that_are_not_identifiers() -> None:
    assert format_loc(("spec", "headers", "end-user", 0)) == 'spec.headers["end-user"][0]'
