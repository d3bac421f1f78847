"""The fault plan's decisions: scope, percentage, first N, sequences (pure, no I/O)."""

from __future__ import annotations

import pytest

from inmesh.testing import FaultPlan, deterministic
from inmesh.testing._outcomes import Abort, Refuse, ResetBeforeHeaders, Stall, outcome_of
from inmesh.testing._rules import EndpointInfo

V1 = EndpointInfo(
    key="127.1.0.2:80",
    hosts=frozenset({"backend", "backend.default.svc.cluster.local"}),
    labels={"app": "backend", "version": "v1"},
    name="backend-v1-0",
)
V2 = EndpointInfo(
    key="127.1.0.3:80",
    hosts=V1.hosts,
    labels={"app": "backend", "version": "v2"},
    name="backend-v2-0",
)
OTHER = EndpointInfo(key="127.1.0.4:80", hosts=frozenset({"ratings"}), name="ratings-0")


def test_scope_by_service_labels_endpoint_method_and_path() -> None:
    plan = FaultPlan()
    plan.abort("backend", labels={"version": "v2"}, method="POST", path="/orders", status=500)
    assert plan.request_outcome(V2, "POST", "/orders/1") == Abort(500)
    assert plan.request_outcome(V2, "GET", "/orders/1") is None
    assert plan.request_outcome(V2, "POST", "/cart") is None
    assert plan.request_outcome(V1, "POST", "/orders/1") is None
    assert plan.request_outcome(OTHER, "POST", "/orders/1") is None
    plan.clear()
    plan.refuse(endpoint="backend-v1-0")
    assert plan.connect_outcome(V1) == Refuse() and plan.connect_outcome(V2) is None
    assert plan.request_outcome(V1, "GET", "/") is None  # a connect-phase fault


def test_subset_needs_a_resolver_and_becomes_labels() -> None:
    with pytest.raises(ValueError, match="subset= needs"):
        FaultPlan().abort("backend", subset="v2")
    plan = FaultPlan(subset_labels=lambda service, subset: {"version": subset})
    plan.abort("backend", subset="v2")
    assert plan.request_outcome(V2, "GET", "/") == Abort(503)
    assert plan.request_outcome(V1, "GET", "/") is None


def test_first_n_then_pass() -> None:
    plan = FaultPlan()
    fault = plan.reset_before_headers("backend", first=2)
    outs = [plan.request_outcome(V1, "GET", "/") for _ in range(4)]
    assert outs == [ResetBeforeHeaders(), ResetBeforeHeaders(), None, None]
    assert fault.hits == 2 and fault.seen == 4 and fault.exhausted


def test_sequence_in_order_then_pass() -> None:
    plan = FaultPlan()
    fault = plan.sequence("backend", [503, None, "stall", 500])
    outs = [plan.request_outcome(V1, "GET", "/") for _ in range(5)]
    assert outs == [Abort(503), None, Stall(), Abort(500), None]
    assert fault.hits == 3


def test_percentage_is_reproducible_with_a_seed() -> None:
    def run() -> list[bool]:
        plan = FaultPlan()
        plan.abort("backend", percentage=10)
        return [plan.request_outcome(V1, "GET", "/") is not None for _ in range(1000)]

    with deterministic(7):
        first = run()
    with deterministic(7):
        second = run()
    assert first == second and 60 <= sum(first) <= 140


def test_removed_fault_no_longer_applies() -> None:
    plan = FaultPlan()
    with plan.abort("backend"):
        assert plan.request_outcome(V1, "GET", "/") == Abort(503)
    assert plan.request_outcome(V1, "GET", "/") is None and not plan.faults


def test_refusing_drops_pooled_connections_while_active() -> None:
    plan = FaultPlan()
    fault = plan.refuse("backend", first=1)
    assert plan.refusing(V1) and not plan.refusing(OTHER)
    plan.connect_outcome(V1)
    assert not plan.refusing(V1)  # used up
    fault.remove()


def test_bad_arguments_are_named() -> None:
    plan = FaultPlan()
    with pytest.raises(ValueError, match="percentage must be between 0 and 100"):
        plan.abort("backend", percentage=150)
    with pytest.raises(ValueError, match="mixes connect-phase outcomes"):
        plan.sequence("backend", ["refuse", 503])
    with pytest.raises(ValueError, match="unknown fault outcome 'boom'"):
        outcome_of("boom")
    with pytest.raises(ValueError, match="an HTTP status is 100-599"):
        outcome_of(42)
    with pytest.raises(ValueError, match="route= needs"):
        plan.abort(route="main")
