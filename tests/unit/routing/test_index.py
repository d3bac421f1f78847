"""The compiler index's buckets: tuples while small, dicts once large, add/remove inverse."""

from __future__ import annotations

from typing import Any

from inmesh.routing._index import Bucket, ConfigIndex, Key


def _key(i: int) -> Key:
    return ("VirtualService", "ns", f"vs-{i}")


def test_a_bucket_keeps_keys_in_order_once_each_across_the_switch_to_a_dict() -> None:
    d: dict[Any, Bucket] = {}
    for i in range(20):
        ConfigIndex._put(d, "h", _key(i))
        ConfigIndex._put(d, "h", _key(i))  # twice: still once
        assert list(d["h"]) == [_key(j) for j in range(i + 1)]
    assert type(d["h"]) is dict


def test_one_key_is_a_one_tuple() -> None:
    d: dict[Any, Bucket] = {}
    ConfigIndex._put(d, "h", _key(1))
    assert d == {"h": (_key(1),)}


def test_drop_is_the_inverse_of_put_and_empties_the_bucket() -> None:
    for n in (1, 3, 20):
        d: dict[Any, Bucket] = {}
        for i in range(n):
            ConfigIndex._put(d, "h", _key(i))
        ConfigIndex._drop(d, "h", _key(99))  # absent: nothing happens
        ConfigIndex._drop(d, "other", _key(0))
        for i in range(n):
            ConfigIndex._drop(d, "h", _key(i))
            assert list(d.get("h", ())) == [_key(j) for j in range(i + 1, n)]
        assert d == {}
