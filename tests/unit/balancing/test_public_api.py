"""The public surface of inmesh.balancing."""

from __future__ import annotations

import inmesh.balancing as balancing


def test_all_is_sorted_and_complete() -> None:
    assert balancing.__all__ == sorted(balancing.__all__)
    assert set(balancing.__all__) == {
        "ActiveRequests",
        "Balancer",
        "BalancerKind",
        "BalancerPolicy",
        "Distribute",
        "Endpoint",
        "Failover",
        "LeastRequestBalancer",
        "LocalityBalancer",
        "LocalitySetting",
        "MaglevBalancer",
        "NoEndpoints",
        "RandomBalancer",
        "RingHashBalancer",
        "RoundRobinBalancer",
        "WeightedChoice",
        "balancer_kind",
        "distribute_weights",
        "failover_priorities",
        "hash_value",
        "locality_match",
        "make_balancer",
        "priority_loads",
    }
    for name in balancing.__all__:
        assert getattr(balancing, name) is not None
