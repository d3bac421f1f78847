"""HeaderSource (routing/_request.py): a request header's value by name, as matchers see it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from inmesh.routing import HeaderSource


def test_a_lower_case_name_finds_the_header_in_any_case() -> None:
    h = HeaderSource([(b"Content-Type", b"text/plain"), (b"x-a", b"1")])
    assert h.get("content-type") == "text/plain"
    assert h.get("x-a") == "1"
    assert h.get("x-b") is None


def test_repeated_names_are_joined_in_order_whatever_their_case() -> None:
    h = HeaderSource([(b"X-A", b"1"), (b"y", b"0"), (b"x-a", b"2"), (b"x-A", b"3")])
    assert h.get("x-a") == "1,2,3"
    assert h.get("y") == "0"


def test_a_mapping_is_read_as_pairs() -> None:
    assert HeaderSource({"Accept": "*/*"}).get("accept") == "*/*"


def test_values_are_latin1() -> None:
    assert HeaderSource([(b"x", "é".encode("latin-1"))]).get("x") == "é"


names = st.sampled_from([b"a", b"A", b"b", b"B", b"ab", b"Ab"])


@given(st.lists(st.tuples(names, st.binary(max_size=3)), max_size=6), names)
def test_same_as_a_scan_of_the_pairs(raw: list[tuple[bytes, bytes]], name: bytes) -> None:
    wanted = name.lower()
    values = [v for k, v in raw if k.lower() == wanted]
    expected = b",".join(values).decode("latin-1") if values else None
    assert HeaderSource(raw).get(wanted.decode()) == expected
