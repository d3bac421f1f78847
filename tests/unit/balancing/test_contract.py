"""Properties every balancer kind shares: eligibility, exclusion, empty sets."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from inmesh.balancing import (
    ActiveRequests,
    Endpoint,
    NoEndpoints,
    make_balancer,
)

from ._support import KINDS, SMALL_POLICY, endpoint_lists, excluded_keys, hash_keys


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(KINDS), st.data())
def test_every_pick_is_an_eligible_endpoint(kind: str, data: st.DataObject) -> None:
    eps = data.draw(endpoint_lists())
    exclude = data.draw(excluded_keys(eps))
    active = ActiveRequests()
    for e in eps:
        for _ in range(data.draw(st.integers(0, 3))):
            active.inc(e.key)
    b = make_balancer(SMALL_POLICY[kind], eps, active, random.Random(0))
    assert b.endpoints == tuple(eps)
    eligible = [e for e in eps if e.key not in exclude]
    for _ in range(20):
        got = b.pick(data.draw(hash_keys), exclude)
        if eligible:
            assert got in eligible
        else:
            assert got is None


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(KINDS), endpoint_lists())
def test_excluding_everything_gives_none(kind: str, eps: list[Endpoint]) -> None:
    b = make_balancer(SMALL_POLICY[kind], eps, ActiveRequests(), random.Random(0))
    everything = {e.key for e in eps}
    assert b.pick(None, everything) is None
    assert b.pick(12345, everything) is None


@given(st.sampled_from(KINDS))
def test_no_endpoints(kind: str) -> None:
    b = make_balancer(SMALL_POLICY[kind], [], ActiveRequests())
    assert isinstance(b, NoEndpoints)
    assert b.endpoints == ()
    assert b.pick() is None
    assert b.pick(7, {"x:1"}) is None


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(KINDS), endpoint_lists(max_size=1), hash_keys)
def test_single_endpoint_always_wins(kind: str, eps: list[Endpoint], key: int | None) -> None:
    b = make_balancer(SMALL_POLICY[kind], eps, ActiveRequests(), random.Random(0))
    assert b.pick(key) is eps[0]
    assert b.pick(key, {"not:1"}) is eps[0]
