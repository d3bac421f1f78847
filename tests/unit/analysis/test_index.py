"""The analyzers' indexes answer what a scan over every resource would (the analysis is
linear in the number of resources, and its messages unchanged)."""

from __future__ import annotations

import gc

from hypothesis import given, settings
from hypothesis import strategies as st

from inmesh._namespaces import selects
from inmesh.analysis._index import HostIndex, Workloads, wildcard_matches
from inmesh.config._files import gc_paused

_LABELS = st.dictionaries(
    st.sampled_from(["app", "version", "tier"]), st.sampled_from(["a", "b", "v1"]), max_size=3
)
_HOSTS = st.sampled_from(
    ["a.ns.svc.cluster.local", "b.ns.svc.cluster.local", "*.ns.svc.cluster.local",
     "*.svc.cluster.local", "*", "*cluster.local", "example.com", "*.example.com", "*.com"]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(workloads=st.lists(_LABELS, max_size=8), selector=_LABELS)
def test_workloads_any_selected_is_a_scan(
    workloads: list[dict[str, str]], selector: dict[str, str]
) -> None:
    index = Workloads(workloads)
    assert index.any_selected(selector) == any(selects(selector, w) for w in workloads)
    assert bool(index) == bool(workloads)


@settings(max_examples=200, deadline=None)
@given(hosts=st.lists(_HOSTS, max_size=8), host=_HOSTS)
def test_host_index_matching_is_a_scan(hosts: list[str], host: str) -> None:
    index: HostIndex[int] = HostIndex()
    for i, h in enumerate(hosts):
        index.add(h, i)
    assert index.matching(host) == sorted({h for h in hosts if wildcard_matches(host, h)})
    for h in set(hosts):
        assert index.values(h) == [i for i, x in enumerate(hosts) if x == h]


def test_gc_paused_restores_the_collector_even_after_an_error() -> None:
    assert gc.isenabled()
    try:
        with gc_paused():
            assert not gc.isenabled()
            with gc_paused():  # nested: the outer one restores
                pass
            assert not gc.isenabled()
            raise ValueError("boom")
    except ValueError:
        pass
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # left as it was found
    finally:
        gc.enable()
