"""IncrementalAnalysis: the messages about changed resources are those of a full
``check(..., focus=...)`` over every resource, in the same order, after any sequence of
sets and removals (a property test over small random meshes with overlapping hosts,
wildcards, exportTo, subsets, gateways, telemetries and workloads)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from inmesh._errors import ConfigError
from inmesh.analysis import check
from inmesh.analysis._incremental import IncrementalAnalysis, Key, resource_key
from inmesh.analysis._message import resource_label
from inmesh.config import parse_documents

NAMESPACES = ("a", "b")
HOSTS = ("svc", "svc.a.svc.cluster.local", "*.a.svc.cluster.local", "ext.example.com", "*.com")
NAMES = ("n1", "n2", "n3")
LABELS = ({"app": "x"}, {"app": "x", "version": "v1"}, {"app": "y"}, {})

Doc = dict[str, Any]


def _meta(name: str, ns: str) -> dict[str, str]:
    return {"name": name, "namespace": ns}


@st.composite
def documents(draw: st.DrawFn) -> Doc:
    kind = draw(
        st.sampled_from(
            [
                "ServiceEntry",
                "VirtualService",
                "DestinationRule",
                "WorkloadEntry",
                "Gateway",
                "Telemetry",
                "Service",
            ]
        )
    )
    name, ns = draw(st.sampled_from(NAMES)), draw(st.sampled_from(NAMESPACES))
    host = draw(st.sampled_from(HOSTS))
    export = draw(st.sampled_from([None, ["."], ["*"], ["a", "b"]]))
    labels = draw(st.sampled_from(LABELS))
    net = "networking.istio.io/v1"
    if kind == "ServiceEntry":
        spec: Doc = {
            "hosts": [host] if not host.startswith("*") or ns == "a" else [host, "other.com"],
            "ports": draw(
                st.sampled_from(
                    [
                        [{"number": 80, "name": "http", "protocol": "HTTP"}],
                        [{"number": 80, "name": "tcp", "protocol": "TCP"}],
                        [
                            {"number": 80, "name": "http", "protocol": "HTTP"},
                            {"number": 81, "name": "h2", "protocol": "HTTP2"},
                        ],
                    ]
                )
            ),
            "resolution": "STATIC",
        }
        if draw(st.booleans()):
            spec["workloadSelector"] = {"labels": labels}
        if draw(st.booleans()):
            spec["endpoints"] = [{"address": "10.0.0.1", "labels": labels}]
        if "workloadSelector" not in spec and "endpoints" not in spec:
            spec["resolution"] = "NONE"
        if export is not None:
            spec["exportTo"] = export
        return {"apiVersion": net, "kind": kind, "metadata": _meta(name, ns), "spec": spec}
    if kind == "VirtualService":
        subset = draw(st.sampled_from([None, "v1", "v2"]))
        dest: Doc = {"host": draw(st.sampled_from(HOSTS[:2] + HOSTS[3:4]))}
        if subset:
            dest["subset"] = subset
        if draw(st.booleans()):
            dest["port"] = {"number": draw(st.sampled_from([80, 81, 90]))}
        spec = {
            "hosts": [host] if draw(st.booleans()) else [host, "ext.example.com"],
            "http": [{"route": [{"destination": dest}]}],
        }
        if draw(st.booleans()):
            spec["gateways"] = draw(st.sampled_from([["mesh"], ["gw"], ["b/gw", "mesh"]]))
        if export is not None:
            spec["exportTo"] = export
        return {"apiVersion": net, "kind": kind, "metadata": _meta(name, ns), "spec": spec}
    if kind == "DestinationRule":
        spec = {
            "host": draw(st.sampled_from(HOSTS[:2] + HOSTS[3:4])),
            "subsets": [{"name": "v1", "labels": {"version": "v1"}}],
        }
        if export is not None:
            spec["exportTo"] = export
        return {"apiVersion": net, "kind": kind, "metadata": _meta(name, ns), "spec": spec}
    if kind == "WorkloadEntry":
        spec = {"address": "10.0.0.2", "labels": labels}
        return {"apiVersion": net, "kind": kind, "metadata": _meta(name, ns), "spec": spec}
    if kind == "Gateway":
        tls = {"mode": "SIMPLE", "credentialName": draw(st.sampled_from(["c1", "c2"]))}
        spec = {
            "selector": {"istio": "ingressgateway"},
            "servers": [
                {
                    "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                    "hosts": [draw(st.sampled_from(["*", "ext.example.com", "./svc"]))],
                    "tls": tls,
                }
            ],
        }
        return {"apiVersion": net, "kind": kind, "metadata": _meta("gw", ns), "spec": spec}
    if kind == "Telemetry":
        spec = {}
        if labels:
            spec["selector"] = {"matchLabels": labels}
        return {
            "apiVersion": "telemetry.istio.io/v1",
            "kind": kind,
            "metadata": _meta(name, ns),
            "spec": spec,
        }
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(draw(st.sampled_from(["svc", "ext"])), ns),
        "spec": {
            "ports": [{"name": draw(st.sampled_from(["http", "web"])), "port": 80}],
            "selector": labels or {"app": "z"},
        },
    }


def _valid(docs: list[Doc]) -> list[Any]:
    """The documents that validate (the generator does not know every schema rule)."""
    out: list[Any] = []
    for doc in docs:
        try:
            out.extend(parse_documents([doc], compact=False))
        except ConfigError:
            continue
    return out


def _full(order: list[Any], focus: list[Key]) -> list[str]:
    labels = {resource_label(r) for r in order if resource_key(r) in focus}
    return [m.format() for m in check(order, focus=labels) if m.resource in labels]


def _incremental(index: IncrementalAnalysis, order: list[Any], focus: list[Key]) -> list[str]:
    position = {resource_key(r): i for i, r in enumerate(order)}
    return [m.format() for m in index.check(focus, position.__getitem__)]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(documents(), min_size=1, max_size=14),
    st.lists(st.tuples(st.integers(0, 13), st.booleans()), max_size=6),
    st.lists(st.integers(0, 13), min_size=1, max_size=3),
)
def test_messages_about_the_changed_resources_equal_the_full_analysis(
    docs: list[Doc], edits: list[tuple[int, bool]], focus_at: list[int]
) -> None:
    models = _valid(docs)
    # the full analysis's view: one resource per key, the last given wins, in first place
    current: dict[Key, Any] = {}
    index = IncrementalAnalysis()
    for r in models:
        current[resource_key(r)] = r
        index.set(resource_key(r), r)
    # edits: remove a resource, or put it back as another document's content under its key
    for at, remove in edits:
        keys = list(current)
        if not keys:
            break
        key = keys[at % len(keys)]
        if remove:
            del current[key]
            index.set(key, None)
        else:
            current[key] = index.resources[key]
            index.set(key, current[key])
    order = list(current.values())
    if not order:
        return
    focus = list(dict.fromkeys(resource_key(order[i % len(order)]) for i in focus_at))
    assert _incremental(index, order, focus) == _full(order, focus)


def test_an_unchanged_index_answers_as_a_new_one() -> None:
    docs = [
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": n, "namespace": "a"},
            "spec": {"hosts": ["svc"], "http": [{"route": [{"destination": {"host": "svc"}}]}]},
        }
        for n in ("x", "y")
    ]
    models = parse_documents(docs, compact=False)
    index = IncrementalAnalysis()
    for r in models:
        index.set(resource_key(r), r)
    focus = [resource_key(models[0])]
    found = _incremental(index, models, focus)
    assert found == _full(models, focus)
    assert [f.split("]")[0] for f in found] == ["Error [IST0101", "Error [IST0109"]
    # removing the other VirtualService removes the conflict, and only it
    index.set(resource_key(models[1]), None)
    assert [f.split("]")[0] for f in _incremental(index, models[:1], focus)] == ["Error [IST0101"]
