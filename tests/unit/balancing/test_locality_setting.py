"""Istio's localityLbSetting rules: validation, priorities, distribute weights."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inmesh._errors import ConfigError
from inmesh.balancing import (
    Distribute,
    Endpoint,
    Failover,
    LocalitySetting,
    distribute_weights,
    failover_priorities,
    locality_match,
)

from ._support import LOCALITIES, endpoint


def _prio(client: str, localities: list[str], setting: LocalitySetting) -> list[int]:
    eps = [endpoint(i, locality=loc) for i, loc in enumerate(localities)]
    return failover_priorities(eps, client_locality=client, setting=setting)


def test_istio_failover_task_table() -> None:
    # Istio "Locality failover" task, client in region1/zone1 with failover
    # region1 -> region2: P0 region1.zone1, (P1 unused: no subzones), P2 region1.zone2,
    # P3 region2.zone3, P4 region3.zone4; renumbered without the gap.
    setting = LocalitySetting(failover=(Failover("region1", "region2"),))
    got = _prio(
        "region1/zone1",
        ["region1/zone1", "region1/zone2", "region2/zone3", "region3/zone4"],
        setting,
    )
    assert got == [0, 1, 2, 3]


def test_default_priorities_without_failover() -> None:
    got = _prio("r1/z1/s1", ["r1/z1/s1", "r1/z1/s2", "r1/z2", "r2/z3", "r3/z4"], LocalitySetting())
    assert got == [0, 1, 2, 3, 3]  # other regions share the last level


def test_failover_for_another_region_changes_nothing() -> None:
    got = _prio(
        "r1/z1", ["r1/z1", "r2/z1", "r3/z1"], LocalitySetting(failover=(Failover("r9", "r2"),))
    )
    assert got == [0, 1, 1]


def _labelled(i: int, **labels: str) -> Endpoint:
    return Endpoint(f"10.1.0.{i}", 80, labels=labels)


def test_failover_priority_with_values() -> None:
    # The DestinationRule reference's example: version=v1 in clusterA first, then v1
    # elsewhere, then everything else.
    setting = LocalitySetting(
        failover_priority=("version=v1", "topology.istio.io/cluster=clusterA")
    )
    eps = [
        _labelled(0, version="v1", **{"topology.istio.io/cluster": "clusterA"}),
        _labelled(1, version="v1", **{"topology.istio.io/cluster": "clusterB"}),
        _labelled(2, version="v2", **{"topology.istio.io/cluster": "clusterA"}),
    ]
    got = failover_priorities(
        eps, client_locality="", setting=setting, client_labels={"app": "curl"}
    )
    assert got == [0, 1, 2]


def test_failover_priority_topology_labels_come_from_locality_and_network() -> None:
    setting = LocalitySetting(
        failover_priority=(
            "topology.istio.io/network",
            "topology.kubernetes.io/region",
            "topology.kubernetes.io/zone",
            "topology.istio.io/subzone",
        )
    )
    eps = [
        Endpoint("10.0.0.1", 80, locality="r1/z1/s1", network="n1"),  # all match
        Endpoint("10.0.0.2", 80, locality="r1/z1/s2", network="n1"),  # subzone differs
        Endpoint("10.0.0.3", 80, locality="r1/z2", network="n1"),  # zone differs
        Endpoint("10.0.0.4", 80, locality="r2/z1", network="n1"),  # region differs
        Endpoint("10.0.0.5", 80, locality="r1/z1/s1", network="n2"),  # network differs
    ]
    got = failover_priorities(
        eps, client_locality="r1/z1/s1", setting=setting, client_labels={}, client_network="n1"
    )
    assert got == [0, 1, 2, 3, 4]


def test_failover_priority_combined_with_failover() -> None:
    # Istio: label priority * 5 + locality priority, renumbered.
    setting = LocalitySetting(failover_priority=("version",), failover=(Failover("r1", "r2"),))
    eps = [
        Endpoint("10.0.0.1", 80, labels={"version": "v1"}, locality="r2/z1"),
        Endpoint("10.0.0.2", 80, labels={"version": "v1"}, locality="r1/z1"),
        Endpoint("10.0.0.3", 80, labels={"version": "v2"}, locality="r1/z1"),
        Endpoint("10.0.0.4", 80, labels={"version": "v1"}, locality="r3/z1"),
    ]
    got = failover_priorities(
        eps, client_locality="r1/z1", setting=setting, client_labels={"version": "v1"}
    )
    assert got == [1, 0, 3, 2]  # raw 3, 0, 5, 4


@pytest.mark.parametrize(
    ("locality", "pattern", "expected"),
    [
        ("r1/z1/s1", "*", True),
        ("r1/z1/s1", "r1", True),
        ("r1/z1/s1", "r1/*", True),
        ("r1/z1/s1", "r1/z1/*", True),
        ("r1/z1/s1", "r1/z2/*", False),
        ("r1/z1/s1", "r2/*", False),
        ("r1/z1/s1", "r1/z1/s1", True),
        ("r1/z1/s1", "r1/z1/s2", False),
    ],
)
def test_locality_match(locality: str, pattern: str, expected: bool) -> None:
    assert locality_match(locality, pattern) is expected


@given(st.sampled_from(LOCALITIES))
def test_star_matches_everything(loc: str) -> None:
    assert locality_match(loc, "*")


def test_distribute_weights_split_by_own_weight_and_drop_the_rest() -> None:
    eps = [
        endpoint(0, locality="r1/z1/a"),
        endpoint(1, locality="r1/z1/a"),
        endpoint(2, locality="r1/z1/a"),
        endpoint(3, locality="r1/z1/b"),
        endpoint(4, locality="r1/z2/c"),
        endpoint(5, locality="r2/z9"),
    ]
    rule = Distribute("r1/z1/*", {"r1/z1/*": 80, "r1/z2/*": 20})
    got = distribute_weights(eps, "r1/z1/a", (rule,))
    # r1/z1/* matches a (own weight 3) and b (1): ceil(3*80/4)=60, ceil(1*80/4)=20.
    assert got == {("r1", "z1", "a"): 60, ("r1", "z1", "b"): 20, ("r1", "z2", "c"): 20}
    assert distribute_weights(eps, "r2/z9", (rule,)) is None  # no rule for this client


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"distribute": (Distribute("r1", {"r1": 50}),)}, "!= 100"),
        ({"distribute": (Distribute("r1", {"r1": 100, "r2": 0}),)}, "range [1, 100]"),
        ({"distribute": (Distribute("*/z1", {"r1": 100}),)}, "wildcard"),
        (
            {"distribute": (Distribute("r1", {"r1": 100}),), "failover": (Failover("r1", "r2"),)},
            "simultaneously",
        ),
        ({"failover": (Failover("r1", "r1"),)}, "different regions"),
        ({"failover": (Failover("r1/z1", "r2"),)}, "only specify region"),
        ({"failover": (Failover("r1", "*"),)}, "wildcard"),
        (
            {
                "failover": (Failover("r1", "r2"),),
                "failover_priority": ("topology.kubernetes.io/region",),
            },
            "topology label",
        ),
    ],
)
def test_validation_follows_istio(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        LocalitySetting(**kwargs)  # type: ignore[arg-type]
    assert needle in str(info.value)
    assert info.value.problems[0].field.startswith(  # type: ignore[union-attr]
        "trafficPolicy.loadBalancer.localityLbSetting"
    )
