"""The compile's diff (routing/_diff.py): pure functions over keys and positions."""

from __future__ import annotations

from inmesh.routing._diff import positions


def k(name: str) -> tuple[str, str, str]:
    return ("VirtualService", "default", name)


def test_kept_keys_keep_their_positions_and_new_ones_fall_between_their_neighbours() -> None:
    pos = {k("a"): 0.0, k("b"): 1.0, k("c"): 2.0}
    new = dict.fromkeys([k("a"), k("x"), k("y"), k("b"), k("c"), k("z")])
    got = positions(new, pos, end=3)
    assert got is not None and set(got) == {k("x"), k("y"), k("z")}
    order = sorted([*pos, *got], key={**pos, **got}.__getitem__)
    assert order == list(new)


def test_the_same_keys_need_no_position_and_a_reorder_needs_a_full_compile() -> None:
    pos = {k("a"): 0.0, k("b"): 1.0}
    assert positions(dict.fromkeys([k("a"), k("b")]), pos, end=2) == {}
    assert positions(dict.fromkeys([k("b"), k("a")]), pos, end=2) is None


def test_no_room_between_two_floats_asks_for_a_renumbering() -> None:
    pos = {k("a"): 1.0, k("b"): 1.0000000000000002}
    assert positions(dict.fromkeys([k("a"), k("x"), k("b")]), pos, end=2) is None
