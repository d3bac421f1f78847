"""hash_value: deterministic, process-independent, 64-bit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inmesh.balancing import hash_value


@pytest.mark.parametrize(
    ("data", "expected"),
    [("", 0xB4B2797457A0A6E4), ("user-42", 0xA6EFE67B4DCAA06F), ("10.0.0.1", 0xE6034DE146F68E53)],
)
def test_golden_values_pin_the_algorithm(data: str, expected: int) -> None:
    # These change only if the hash changes, which would move every consistent-hash key
    # of every running client: a breaking change, never an accident.
    assert hash_value(data) == expected


@given(st.text())
def test_str_and_utf8_bytes_agree(s: str) -> None:
    assert hash_value(s) == hash_value(s.encode())


@given(st.binary())
def test_range_is_64_bits(b: bytes) -> None:
    assert 0 <= hash_value(b) < 2**64
