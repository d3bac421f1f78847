"""Shared builders and hypothesis strategies for the balancing tests."""

from __future__ import annotations

from hypothesis import strategies as st

from inmesh.balancing import BalancerKind, BalancerPolicy, Endpoint

KINDS: tuple[BalancerKind, ...] = ("LEAST_REQUEST", "ROUND_ROBIN", "RANDOM", "RING_HASH", "MAGLEV")

# Small tables keep hypothesis fast; the default sizes get their own tests.
SMALL_POLICY: dict[str, BalancerPolicy] = {
    kind: BalancerPolicy(kind=kind, minimum_ring_size=64, maglev_table_size=251) for kind in KINDS
}

LOCALITIES = ("r1/z1/s1", "r1/z1/s2", "r1/z2", "r2/z3", "r3/z4", "")


def endpoint(i: int, *, weight: int = 1, locality: str = "", **labels: str) -> Endpoint:
    return Endpoint(
        f"10.0.{i // 250}.{i % 250}", 8080, labels=labels, locality=locality, weight=weight
    )


def endpoints(n: int, *, weight: int = 1, locality: str = "") -> list[Endpoint]:
    return [endpoint(i, weight=weight, locality=locality) for i in range(n)]


@st.composite
def endpoint_lists(
    draw: st.DrawFn,
    *,
    min_size: int = 1,
    max_size: int = 8,
    max_weight: int = 5,
    with_locality: bool = False,
) -> list[Endpoint]:
    n = draw(st.integers(min_size, max_size))
    out = []
    for i in range(n):
        w = draw(st.integers(1, max_weight))
        loc = draw(st.sampled_from(LOCALITIES)) if with_locality else ""
        out.append(endpoint(i, weight=w, locality=loc))
    return out


@st.composite
def excluded_keys(draw: st.DrawFn, eps: list[Endpoint]) -> frozenset[str]:
    return frozenset(draw(st.sets(st.sampled_from([e.key for e in eps]))))


hash_keys = st.one_of(st.none(), st.integers(0, 2**64 - 1))
