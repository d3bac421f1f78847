"""Field locations in their dotted form."""

from __future__ import annotations

from inmesh.config._loc import format_loc


def test_format_loc_brackets_keys_that_are_not_identifiers() -> None:
    assert format_loc(("spec", "headers", "end-user", 0)) == 'spec.headers["end-user"][0]'
