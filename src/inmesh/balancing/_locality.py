"""Locality-aware balancing: Envoy's priority levels and locality weights over inner balancers.

:mod:`._locality_setting` decides, as Istio does, which priority each endpoint has
(failover) or which weight each locality has (distribute). This module does what Envoy
then does with that, per request:

* **Priority levels** (Envoy "priority levels", "overprovisioning factor"): a level's
  health is ``min(100, 140 * eligible // total)`` (factor 1.4, so a level with >= 72% of
  its hosts eligible is still "fully healthy"); levels take load in order, each at most
  its health, scaled up when the total is below 100; the first level with health takes
  the rounding remainder. A hashing policy chooses the level with ``hash % 100 + 1``,
  the others with a random percentage.
* **Locality weighted load balancing**: inside a level a locality is chosen by weight
  times its availability ``min(1, 1.4 * eligible / total)``, then the policy's balancer
  for that locality picks the host. For RING_HASH/MAGLEV Envoy instead builds one ring per
  level with each host weighted ``host_w / locality_host_w_sum * locality_w / level_w``;
  so does this module.

**When it applies** (Istio's rules): ``distribute`` applies whenever configured; failover
priorities only when outlier detection is configured for the destination (Istio: "failover
needs outlier detection, otherwise Envoy will never drop down to a lower priority"), which
the caller passes as ``failover_enabled``. With neither, with locality balancing
``enabled=False``, when the client has no locality (and no ``failoverPriority`` labels
to go by), or when no endpoint has a locality, it is a plain balancer over all endpoints.

Not modelled: Envoy's panic threshold (50%). ``exclude`` is strict here; a caller that
wants panic routing passes a smaller ``exclude`` once too many hosts are ejected. The one
concession: when every level's health rounds down to 0 while some host is still eligible,
the first level with an eligible host is used rather than answering "no host".
"""

from __future__ import annotations

import itertools
import random
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Container, Mapping, Sequence
from itertools import accumulate
from typing import Literal

from ._balancer import Balancer, NoEndpoints, new_rng
from ._endpoint import Endpoint
from ._factory import make_balancer
from ._hashing import MASK64
from ._locality_setting import (
    Locality,
    LocalitySetting,
    distribute_weights,
    failover_priorities,
    split_locality,
)
from ._policy import BalancerPolicy
from ._round_robin import edf_schedule
from ._stats import ActiveRequests

# Envoy's ClusterLoadAssignment.Policy.overprovisioning_factor default, in percent.
OVERPROVISIONING_FACTOR = 140

LocalityMode = Literal["flat", "failover", "distribute"]


class _Group:
    """The endpoints of one locality within one priority level."""

    __slots__ = ("balancer", "keys", "locality", "weight")

    def __init__(
        self,
        *,
        locality: Locality,
        keys: tuple[str, ...],
        weight: int,
        balancer: Balancer | None,
    ) -> None:
        self.locality = "/".join(locality).rstrip("/")
        self.keys = keys
        self.weight = weight
        self.balancer = balancer


class _Level:
    """One priority level: its locality groups and how to pick among them."""

    __slots__ = ("endpoints", "groups", "hashed", "schedule", "tick")

    def __init__(
        self,
        *,
        endpoints: tuple[Endpoint, ...],
        groups: tuple[_Group, ...],
        hashed: Balancer | None,
        rng: random.Random,
    ) -> None:
        self.endpoints = endpoints
        self.groups = groups
        self.hashed = hashed
        # Envoy picks localities with an EDF scheduler over their weights; with every
        # host eligible the weights are fixed, so one precomputed period serves.
        self.schedule = tuple(groups[i] for i in edf_schedule([g.weight for g in groups]))
        start = int(rng.random() * len(self.schedule))
        self.tick: Callable[[], int] = itertools.count(start).__next__


class LocalityBalancer:
    """Istio ``localityLbSetting`` over a :class:`BalancerPolicy` (see the module doc)."""

    __slots__ = (
        "_endpoints",
        "_flat",
        "_getrandbits",
        "_hashing",
        "_levels",
        "_mode",
        "_overprovisioning",
        "_random",
        "_sizes",
        "_where",
    )

    def __init__(
        self,
        policy: BalancerPolicy,
        endpoints: Sequence[Endpoint],
        active: ActiveRequests,
        *,
        client_locality: str,
        setting: LocalitySetting | None = None,
        failover_enabled: bool = False,
        client_labels: Mapping[str, str] | None = None,
        client_network: str = "",
        overprovisioning_factor: int = OVERPROVISIONING_FACTOR,
        rng: random.Random | None = None,
    ) -> None:
        gen = new_rng(rng)
        self._random = gen.random
        self._getrandbits = gen.getrandbits
        self._hashing = policy.is_hashing
        self._overprovisioning = overprovisioning_factor
        self._levels: tuple[_Level, ...] = ()
        self._flat: Balancer | None = None
        self._sizes: list[list[int]] = []  # hosts per level and locality
        self._where: dict[str, tuple[int, int]] = {}  # key -> (level, locality) indexes
        s = setting if setting is not None else LocalitySetting()
        eps = tuple(endpoints)
        has_locality = any(split_locality(e.locality)[0] for e in eps)

        # Which mode applies, by Istio's rules (module doc).
        groups: dict[tuple[int, Locality], list[Endpoint]] = {}
        weights: dict[tuple[int, Locality], int] = {}
        self._mode: LocalityMode = "flat"
        if s.enabled and s.distribute and client_locality and has_locality:
            by_locality = distribute_weights(eps, client_locality, s.distribute)
            if by_locality is not None:
                self._mode = "distribute"
                for e in eps:
                    loc = split_locality(e.locality)
                    if loc in by_locality:
                        groups.setdefault((0, loc), []).append(e)
                        weights[(0, loc)] = by_locality[loc]
        elif (
            s.enabled
            and failover_enabled
            and eps
            and ((client_locality and has_locality) or (s.failover_priority and client_labels))
        ):
            self._mode = "failover"
            prios = failover_priorities(
                eps,
                client_locality=client_locality,
                setting=s,
                client_labels=client_labels,
                client_network=client_network,
            )
            for e, p in zip(eps, prios, strict=True):
                key = (p, split_locality(e.locality))
                groups.setdefault(key, []).append(e)
                weights[key] = weights.get(key, 0) + e.weight  # Istio: sum of host weights

        if self._mode == "flat":
            self._endpoints = eps
            self._flat = make_balancer(policy, eps, active, gen)
            return
        if not groups:  # distribute sends everything to localities with no endpoints
            self._endpoints = ()
            self._flat = NoEndpoints()
            return
        levels: list[_Level] = []
        for p in sorted({p for p, _ in groups}):
            keys = [k for k in groups if k[0] == p]
            level_eps = tuple(e for k in keys for e in groups[k])
            built = tuple(
                _Group(
                    locality=k[1],
                    keys=tuple(e.key for e in groups[k]),
                    weight=weights[k],
                    balancer=None
                    if self._hashing
                    else make_balancer(policy, groups[k], active, gen),
                )
                for k in keys
            )
            hashed = None
            if self._hashing:
                # Envoy's normalizeLocalityWeights: host share within its locality times
                # the locality's share of the level.
                level_w = sum(weights[k] for k in keys)
                host_w: list[float] = []
                for k in keys:
                    loc_sum = sum(e.weight for e in groups[k])
                    host_w += [e.weight / loc_sum * weights[k] / level_w for e in groups[k]]
                hashed = make_balancer(policy, level_eps, active, gen, weights=host_w)
            levels.append(_Level(endpoints=level_eps, groups=built, hashed=hashed, rng=gen))
        self._levels = tuple(levels)
        self._endpoints = tuple(e for lv in levels for e in lv.endpoints)
        self._sizes = [[len(g.keys) for g in lv.groups] for lv in levels]
        self._where = {
            k: (p, i)
            for p, lv in enumerate(levels)
            for i, g in enumerate(lv.groups)
            for k in g.keys
        }

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        """Every endpoint that can receive traffic (distribute drops unmatched ones)."""
        return self._endpoints

    @property
    def mode(self) -> LocalityMode:
        """``flat`` (plain balancing), ``failover`` (priorities) or ``distribute``."""
        return self._mode

    @property
    def levels(self) -> tuple[tuple[Endpoint, ...], ...]:
        """Endpoints per priority level, most preferred first (one level when flat)."""
        if not self._levels:
            return (self._endpoints,) if self._endpoints else ()
        return tuple(lv.endpoints for lv in self._levels)

    @property
    def locality_weights(self) -> tuple[dict[str, int], ...]:
        """Per level, each locality's (``region/zone/subzone``) weight, for inspection."""
        return tuple({g.locality: g.weight for g in lv.groups} for lv in self._levels)

    def pick(
        self, hash_key: int | None = None, exclude: Container[str] | None = None
    ) -> Endpoint | None:
        """An eligible endpoint from the most preferred level that has capacity."""
        if self._flat is not None:
            return self._flat.pick(hash_key, exclude)
        if exclude:
            eligible = self._eligible_counts(exclude)
            if eligible is not None:
                return self._pick_excluding(hash_key, exclude, eligible)
        # Every host eligible: level 0 has health 100 and takes all the load.
        level = self._levels[0]
        if level.hashed is not None:
            return level.hashed.pick(hash_key)
        group = level.schedule[level.tick() % len(level.schedule)]
        assert group.balancer is not None
        return group.balancer.pick()

    def _eligible_counts(self, exclude: Container[str]) -> list[list[int]] | None:
        """Eligible hosts per level and locality; ``None`` if none of ours is excluded.

        A small set is walked key by key (a retry excludes one or two hosts): O(|exclude|)
        instead of a pass over every endpoint.
        """
        counts: list[list[int]] | None = None
        if isinstance(exclude, (set, frozenset, dict)) and len(exclude) < len(self._where):
            for key in exclude:
                where = self._where.get(key)
                if where is not None:
                    if counts is None:
                        counts = [list(sizes) for sizes in self._sizes]
                    counts[where[0]][where[1]] -= 1
            return counts
        counts = [[sum(k not in exclude for k in g.keys) for g in lv.groups] for lv in self._levels]
        return None if counts == self._sizes else counts

    def _pick_excluding(
        self, hash_key: int | None, exclude: Container[str], eligible: list[list[int]]
    ) -> Endpoint | None:
        factor = self._overprovisioning
        sizes = self._sizes
        if self._hashing:
            h = self._getrandbits(64) if hash_key is None else hash_key & MASK64
        else:
            h = 0
        if factor * sum(eligible[0]) >= 100 * sum(sizes[0]):
            p = 0  # level 0 still at health 100: it takes all the load
        else:
            p = self._choose_level(eligible, h)
            if p < 0:
                return None
        level = self._levels[p]
        if level.hashed is not None:
            return level.hashed.pick(h, exclude)
        counts = eligible[p]
        if all(factor * n >= 100 * m for n, m in zip(counts, sizes[p], strict=True)):
            # Every locality still fully available: the static weights apply.
            group = level.schedule[level.tick() % len(level.schedule)]
        else:
            # Envoy's effective locality weight: weight * min(1, factor * eligible / total).
            effective = [
                g.weight * min(1.0, factor * n / (100 * len(g.keys)))
                for g, n in zip(level.groups, counts, strict=True)
            ]
            cum = list(accumulate(effective))
            i = min(bisect_right(cum, self._random() * cum[-1]), len(cum) - 1)
            while effective[i] == 0:  # float edge: never land on an empty locality
                i -= 1
            group = level.groups[i]
        assert group.balancer is not None
        return group.balancer.pick(None, exclude)

    def _choose_level(self, eligible: list[list[int]], h: int) -> int:
        """Envoy's choosePriority over the levels' loads; -1 when nothing is eligible."""
        factor = self._overprovisioning
        # Envoy's level health: min(100, overprovisioning% * eligible // total).
        health = [
            min(100, factor * sum(counts) // sum(sizes))
            for counts, sizes in zip(eligible, self._sizes, strict=True)
        ]
        loads = priority_loads(health)
        if loads is None:
            # Every level's health rounds down to 0 (say 1 eligible host of 150): Envoy
            # would be in panic mode. Use the first level that still has an eligible host.
            return next((i for i, c in enumerate(eligible) if any(c)), -1)
        # A hashing policy chooses with the request's hash (hash % 100 + 1), as Envoy does.
        percent = h % 100 + 1 if self._hashing else int(self._random() * 100) + 1
        return min(bisect_left(list(accumulate(loads)), percent), len(loads) - 1)


def priority_loads(health: Sequence[int]) -> list[int] | None:
    """Envoy's per-priority load (percent, summing to 100) from per-level health.

    ``None`` when no level has any health (nothing eligible anywhere).
    """
    total = min(100, sum(health))
    if total == 0:
        return None
    remaining = 100
    loads = []
    for h in health:
        share = min(remaining, h * 100 // total)
        loads.append(share)
        remaining -= share
    if remaining:
        first = next(i for i, h in enumerate(health) if h > 0)
        loads[first] += remaining
    return loads
