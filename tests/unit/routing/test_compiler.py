"""The incremental compile (routing/_compiler.py): a snapshot built from reused parts is
the snapshot a fresh compile builds, and a change rebuilds exactly the parts it touches."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inmesh import ConfigError
from inmesh._cluster_state import ClusterStates
from inmesh.balancing import ActiveRequests
from inmesh.routing import ClientIdentity
from inmesh.routing._compiler import Compiler, Tables

from ._support import docs, resources, service_entry, workload

CLIENT = ClientIdentity(service="productpage", namespace="default", labels={"app": "pp"})
HOSTS = ("reviews", "ratings", "details")


def dr(name: str, extra: str = "", subsets: tuple[str, ...] = ("v1", "v2")) -> str:
    subs = "".join(f"\n  - {{name: {s}, labels: {{version: {s}}}}}" for s in subsets)
    return f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {name}}}
spec:
  host: {name}
  subsets:{subs}
{extra}"""


def vs(name: str, weights: tuple[int, int] = (80, 20), host: str | None = None) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}}}
spec:
  hosts: [{host or name}]
  http:
  - match: [{{headers: {{end-user: {{exact: jason}}}}}}]
    route: [{{destination: {{host: {name}, subset: v2}}}}]
  - route:
    - {{destination: {{host: {name}, subset: v1}}, weight: {weights[0]}}}
    - {{destination: {{host: {name}, subset: v2}}, weight: {weights[1]}}}
"""


def base() -> list[str]:
    out: list[str] = []
    for i, h in enumerate(HOSTS):
        out += [
            service_entry(f"{h}.default.svc.cluster.local", name=h),
            workload(h, f"10.0.{i}.1", version="v1"),
            workload(h, f"10.0.{i}.2", version="v2"),
            dr(h),
            vs(h),
        ]
    return out


def compiler() -> Compiler:
    return Compiler(CLIENT, active=ActiveRequests(), states=ClusterStates())


def describe(t: Tables) -> dict[str, Any]:
    """Everything a request can observe of the tables, as plain values."""
    out: dict[str, Any] = {}
    for host, svc in t.services.items():
        out[f"service {host}"] = (
            svc.namespace,
            [(p.number, p.name, p.protocol) for p in svc.ports],
            [(i.address, dict(i.labels)) for i in svc.instances],
        )
    for key, c in sorted(t.clusters.items(), key=lambda kv: repr(kv[0])):
        out[f"cluster {key}"] = (c.name, [e.key for e in c.endpoints], c.policy)
    for name in (*HOSTS, *(f"{h}.default" for h in HOSTS), "extra", "wild.example.com"):
        vh = t.vhosts.get(name)
        out[f"vhost {name}"] = (
            None
            if vh is None
            else (
                vh.service.host if vh.service else None,
                None
                if vh.routes is None
                else [
                    (
                        r.name,
                        [(d.host, d.subset) for d in r.destinations],
                        r._choice._cum if r._choice is not None else None,
                    )
                    for r in vh.routes
                ],
            )
        )
    out["scope"] = (t.scope.everything, t.scope.outbound_mode)
    return out


def _replace(parts: list[str], index: int, new: str) -> list[str]:
    out = list(parts)
    out[index] = new
    return out


# (what changed, the edited configuration, the parts a change rebuilds)
EDITS: list[tuple[str, Any, dict[str, int] | None]] = [
    (
        "a VirtualService's weights",
        lambda p: _replace(p, 4, vs("reviews", (50, 50))),
        {"routes": 1, "service": 0, "clusters": 0, "vhost": 1},
    ),
    (
        "a DestinationRule's subsets",
        lambda p: _replace(p, 3, dr("reviews", subsets=("v1",))),
        {"routes": 0, "service": 0, "clusters": 1, "vhost": 0},
    ),
    (
        "a DestinationRule's policy",
        lambda p: _replace(
            p, 8, dr("ratings", "  trafficPolicy: {loadBalancer: {simple: RANDOM}}")
        ),
        {"routes": 0, "service": 0, "clusters": 1, "vhost": 0},
    ),
    (
        "a WorkloadEntry's labels",
        lambda p: _replace(p, 1, workload("reviews", "10.0.0.1", version="v2")),
        {"routes": 0, "service": 1, "clusters": 1, "vhost": 1},
    ),
    (
        "a WorkloadEntry added",
        lambda p: [*p, workload("details", "10.0.2.3", version="v1")],
        {"routes": 0, "service": 1, "clusters": 1, "vhost": 1},
    ),
    ("a WorkloadEntry removed", lambda p: p[:6] + p[7:], {"service": 1, "clusters": 1}),
    (
        "a ServiceEntry's ports",
        lambda p: _replace(
            p,
            0,
            service_entry(
                "reviews.default.svc.cluster.local",
                name="reviews",
                ports="[{number: 9080, name: http, protocol: HTTP}, "
                "{number: 9090, name: http-admin, protocol: HTTP}]",
            ),
        ),
        {"routes": 0, "service": 1, "clusters": 1, "vhost": 1},
    ),
    ("a service removed", lambda p: p[5:], {"service": 1, "clusters": 1, "vhost": 1}),
    (
        "a service added",
        lambda p: [
            *p,
            service_entry("extra.default.svc.cluster.local", name="extra"),
            workload("extra", "10.0.9.1"),
        ],
        {"service": 1, "clusters": 1, "vhost": 1},
    ),
    ("a VirtualService removed", lambda p: p[:4] + p[5:], {"routes": 1, "vhost": 1}),
    ("a VirtualService for a host no service has", lambda p: [*p, vs("extra")], None),
    ("the order of the resources", lambda p: p[5:] + p[:5], None),
    (
        "a wildcard ServiceEntry",
        lambda p: [
            *p,
            """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: wild}
spec:
  hosts: ["*.example.com"]
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: [{address: 10.9.9.9}]
""",
        ],
        None,
    ),
    (
        "a Sidecar",
        lambda p: [
            *p,
            """
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default}
spec:
  egress: [{hosts: [default/reviews.default.svc.cluster.local]}]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
""",
        ],
        None,
    ),
]


@pytest.mark.parametrize(("what", "edit", "rebuilt"), EDITS, ids=[e[0] for e in EDITS])
def test_a_compile_from_reused_parts_equals_a_fresh_compile(
    what: str, edit: Any, rebuilt: dict[str, int] | None
) -> None:
    parts = base()
    c = compiler()
    c.compile(resources(docs(*parts)))
    edited = edit(parts)
    incremental = c.compile(resources(docs(*edited)))
    fresh = compiler().compile(resources(docs(*edited)))
    assert describe(incremental) == describe(fresh)
    if rebuilt is not None:
        assert {k: c.rebuilt[k] for k in rebuilt} == rebuilt


def test_a_change_rebuilds_only_its_host_and_every_other_part_is_the_same_object() -> None:
    parts = base()
    c = compiler()
    before = c.compile(resources(docs(*parts)))
    after = c.compile(resources(docs(*_replace(parts, 3, dr("reviews", subsets=("v1",))))))
    reviews = "reviews.default.svc.cluster.local"
    for key, cluster in after.clusters.items():
        assert (cluster is before.clusters.get(key)) == (key[0] != reviews), key
    assert ("reviews.default.svc.cluster.local", "v2", 9080) not in after.clusters
    # the service parts are untouched by a DestinationRule: the same objects
    assert all(after.services[h] is before.services[h] for h in before.services)


def test_loading_the_same_configuration_again_rebuilds_nothing() -> None:
    c = compiler()
    before = c.compile(resources(docs(*base())))
    after = c.compile(resources(docs(*base())))  # new objects, equal content
    assert c.rebuilt == {"routes": 0, "service": 0, "clusters": 0, "vhost": 0}
    assert all(after.clusters[k] is v for k, v in before.clusters.items())


def test_a_failed_compile_changes_nothing_and_the_next_one_starts_from_the_last_good() -> None:
    parts = base()
    c = compiler()
    good = describe(c.compile(resources(docs(*parts))))
    bad = _replace(
        parts, 3, dr("reviews", "  trafficPolicy: {loadBalancer: {simple: PASSTHROUGH}}")
    )
    with pytest.raises(ConfigError, match="PASSTHROUGH is not supported yet"):
        c.compile(resources(docs(*bad)))
    invalid_hash = _replace(
        parts,
        3,
        dr(
            "reviews",
            "  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x, "
            "maglev: {tableSize: 100}}}}",
        ),
    )
    with pytest.raises(ConfigError, match="DestinationRule default/reviews"):
        c.compile(resources(docs(*invalid_hash)))
    edited = _replace(parts, 4, vs("reviews", (10, 90)))
    assert describe(c.compile(resources(docs(*edited)))) == describe(
        compiler().compile(resources(docs(*edited)))
    )
    assert good != describe(compiler().compile(resources(docs(*edited))))


def test_the_last_of_two_resources_with_one_name_wins() -> None:
    parts = [*base(), vs("reviews", (0, 100))]
    t = compiler().compile(resources(docs(*parts)))
    vh = t.vhosts.get("reviews")
    assert vh is not None and vh.routes is not None
    assert [d.subset for d in vh.routes[-1].destinations] == ["v1", "v2"]
    assert len(t.resources) == len(base())


_OPS = ("vs", "dr", "we", "drop-we", "drop-service", "add-vs-only", "reorder", "same")


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_OPS), st.integers(0, 2)), min_size=1, max_size=6))
def test_any_sequence_of_changes_compiles_as_a_fresh_compile_would(
    ops: list[tuple[str, int]],
) -> None:
    parts = base()
    c = compiler()
    c.compile(resources(docs(*parts)))
    for op, i in ops:
        h = HOSTS[i]
        if op == "vs":
            parts = [p for p in parts if f"name: {h}}}" not in p or "VirtualService" not in p]
            parts.append(vs(h, (i * 10, 100 - i * 10)))
        elif op == "dr":
            parts = [p for p in parts if f"name: {h}}}" not in p or "DestinationRule" not in p]
            parts.append(dr(h, subsets=("v1",) if len(parts) % 2 else ("v1", "v2")))
        elif op == "we":
            parts.append(workload(h, f"10.1.{i}.{len(parts)}", version=f"v{1 + len(parts) % 2}"))
        elif op == "drop-we":
            wes = [k for k, p in enumerate(parts) if "WorkloadEntry" in p]
            if wes:
                del parts[wes[i % len(wes)]]
        elif op == "drop-service":
            parts = [p for p in parts if f"name: {h}}}" not in p and f"name: {h}," not in p]
        elif op == "add-vs-only":
            parts.append(vs(f"only{i}"))
        elif op == "reorder":
            parts = parts[i + 1 :] + parts[: i + 1]
        incremental = c.compile(resources(docs(*parts)))
        assert describe(incremental) == describe(compiler().compile(resources(docs(*parts))))


def test_one_object_replaced_in_the_same_list_is_an_in_place_edit() -> None:
    rs = resources(docs(*base()))
    c = compiler()
    before = c.compile(rs)
    i = next(i for i, r in enumerate(rs) if r.kind == "VirtualService" and r.name == "ratings")
    edited = list(rs)
    edited[i] = resources(vs("ratings", (0, 100)))[0]
    after = c.compile(edited)
    assert c.rebuilt == {"routes": 1, "service": 0, "clusters": 0, "vhost": 1}
    assert describe(after) == describe(compiler().compile(edited))
    assert after.resources[i] is edited[i] and before.resources[i] is rs[i]
    rs.clear()  # the caller reusing its list does not confuse the next compile
    assert describe(c.compile(edited)) == describe(after)


def test_equal_match_blocks_of_one_load_share_one_compiled_matcher() -> None:
    c = compiler()
    loaded = resources(docs(*base()))
    c.compile(loaded)
    firsts = [routes[0].matchers for routes in c._routes.values()]
    assert len(firsts) == len(HOSTS)
    assert all(m is not None and len(m) == 1 for m in firsts)
    assert len({id(m[0]) for m in firsts if m is not None}) == 1  # one Matcher for the 3
    assert c._matchers == {}  # the memo holds nothing past its compile
    # a compile of blocks that are equal but not shared compiles each
    c2 = compiler()
    c2.compile([r for d in base() for r in resources(docs(d))])
    seconds = [routes[0].matchers for routes in c2._routes.values()]
    assert len({id(m[0]) for m in seconds if m is not None}) == len(HOSTS)
