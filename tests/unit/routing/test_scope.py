"""Istio's Sidecar scope (routing/_scope.py): which Sidecar applies to a workload, what its
egress hosts import, and what a scoped client compiles and routes."""

from __future__ import annotations

import pytest

from inmesh import ConfigError
from inmesh.routing import Forward, Passthrough, Reply
from inmesh.routing._scope import Scope, destination_hosts, scope_for

from ._support import docs, resources, service_entry, snapshot, view, workload


def sidecar(
    hosts: str = "[./*]",
    *,
    name: str = "default",
    namespace: str = "default",
    selector: str = "",
    extra: str = "",
) -> str:
    sel = f"  workloadSelector: {{labels: {selector}}}\n" if selector else ""
    return f"""
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {{name: {name}, namespace: {namespace}}}
spec:
{sel}  egress: [{{hosts: {hosts}}}]
{extra}"""


def scope(*parts: str, namespace: str = "default", labels: dict[str, str] | None = None) -> Scope:
    return scope_for(resources(docs(*parts)), namespace, labels or {})


def test_no_sidecar_sees_everything_exported() -> None:
    s = scope(service_entry("a.example.com"))
    assert s.everything and s.imports_service("anything.other", "other")
    assert s.sees("ServiceEntry", "other", ["x.example.com"], None)
    assert not s.sees("ServiceEntry", "other", ["x.example.com"], ["."])  # exportTo still holds


def test_selection_workload_selector_then_namespace_default_then_root() -> None:
    root = sidecar("['*/*']", name="root", namespace="istio-system")
    ns_default = sidecar("[./*]", name="ns")
    selected = sidecar("['./reviews.default.svc.cluster.local']", name="sel", selector="{app: pp}")
    other_ns = sidecar("[./*]", name="elsewhere", namespace="shop")
    assert scope(root, ns_default, selected, labels={"app": "pp"}).sidecar.name == "sel"
    assert scope(root, ns_default, selected, labels={"app": "x"}).sidecar.name == "ns"
    assert scope(root, other_ns, labels={"app": "x"}).sidecar.name == "root"
    assert scope(other_ns).everything


def test_egress_hosts_namespace_forms() -> None:
    s = scope(
        sidecar("[./*, 'istio-system/*', 'ns-1/svc-1.ns-1.svc.cluster.local', '*/*.example.com']")
    )
    assert s.imports_service("anything.default.svc.cluster.local", "default")  # ./*
    assert s.imports_service("x.istio-system.svc.cluster.local", "istio-system")
    assert s.imports_service("svc-1.ns-1.svc.cluster.local", "ns-1")
    assert not s.imports_service("svc-2.ns-1.svc.cluster.local", "ns-1")
    assert s.imports_service("api.example.com", "any-namespace")  # */*.example.com
    assert not s.imports_service("api.example.org", "any-namespace")
    # a root-namespace Sidecar's "./" is the workload's own namespace, as in Istio
    root = scope(sidecar("[./*]", namespace="istio-system"), namespace="shop")
    assert root.imports_service("a.shop.svc.cluster.local", "shop")
    assert not root.imports_service("a.istio-system.svc.cluster.local", "istio-system")


def test_excluded_hosts_and_ports() -> None:
    s = scope(sidecar("['*/*', '~/blocked.example.com']"))
    assert s.imports_service("ok.example.com", "x")
    assert not s.imports_service("blocked.example.com", "x")
    ported = scope(
        """
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default}
spec:
  egress:
  - {port: {number: 9080, protocol: HTTP, name: http}, hosts: [./*]}
  - {hosts: [ns-1/*]}
"""
    )
    assert ported.service_ports("a.default.svc.cluster.local", "default") == {9080}
    assert ported.service_ports("b.ns-1.svc.cluster.local", "ns-1") is None


def test_outbound_traffic_policy_mode_defaults_to_registry_only_as_istios_enum() -> None:
    assert scope(sidecar(extra="  outboundTrafficPolicy: {}")).outbound_mode == "REGISTRY_ONLY"
    allow = sidecar(extra="  outboundTrafficPolicy: {mode: ALLOW_ANY}")
    assert scope(allow).outbound_mode == "ALLOW_ANY"
    assert scope(sidecar()).outbound_mode is None  # the mesh-wide mode


def test_sees_for_a_registry_filtering_a_watchers_view() -> None:
    s = scope(sidecar("[./*, 'ns-1/svc-1.ns-1.svc.cluster.local']"))
    assert s.sees("VirtualService", "default", ["reviews"])
    assert s.sees("ServiceEntry", "ns-1", ["svc-1.ns-1.svc.cluster.local"])
    assert not s.sees("ServiceEntry", "ns-2", ["svc-2.ns-2.svc.cluster.local"])
    assert s.sees("DestinationRule", "istio-system", ["svc-1.ns-1.svc.cluster.local"])
    assert not s.sees("DestinationRule", "ns-2", ["svc-2"])
    assert s.sees("WorkloadEntry", "ns-1") and not s.sees("WorkloadEntry", "ns-2")
    assert s.sees("PeerAuthentication", "ns-9")


MESH = docs(
    service_entry("reviews.default.svc.cluster.local", name="reviews"),
    workload("reviews", "10.0.0.1"),
    service_entry("ratings.shop.svc.cluster.local", name="ratings", namespace="shop"),
    workload("ratings", "10.0.1.1", namespace="shop"),
    service_entry("payments.bank.svc.cluster.local", name="payments", namespace="bank"),
    workload("payments", "10.0.2.1", namespace="bank"),
)


def test_a_scoped_client_compiles_only_what_it_imports() -> None:
    full = snapshot(MESH)
    scoped = snapshot(docs(MESH, sidecar("[./*, 'shop/*']")))
    assert len(full.services) == 3
    assert sorted(scoped.services) == [
        "ratings.shop.svc.cluster.local",
        "reviews.default.svc.cluster.local",
    ]
    assert isinstance(scoped.decide(view("http://ratings.shop:9080/")), Forward)
    # not imported: not a mesh host for this client (ALLOW_ANY passes it through)
    assert isinstance(scoped.decide(view("http://payments.bank:9080/")), Passthrough)
    registry_only = snapshot(
        docs(MESH, sidecar(extra="  outboundTrafficPolicy: {mode: REGISTRY_ONLY}"))
    )
    d = registry_only.decide(view("http://payments.bank:9080/"))
    assert isinstance(d, Reply) and d.cluster_name == "BlackHoleCluster"


def test_the_destinations_of_an_imported_virtual_service_are_imported_with_it() -> None:
    vs = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: payments.bank.svc.cluster.local}}]}]
"""
    s = snapshot(docs(MESH, vs, sidecar("[./*]")))
    assert "payments.bank.svc.cluster.local" in s.services
    assert "ratings.shop.svc.cluster.local" not in s.services
    d = s.decide(view("http://reviews:9080/"))
    assert isinstance(d, Forward) and d.cluster.service.host == "payments.bank.svc.cluster.local"
    assert destination_hosts(resources(vs)[0]) == {"payments.bank.svc.cluster.local"}


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("spec: {}", "sidecar: empty configuration provided"),
        ("spec: {egress: [{hosts: []}]}", "egress listener must contain at least one host"),
        ("spec: {egress: [{hosts: [reviews]}]}", "must be of form namespace/dnsName"),
        ("spec: {egress: [{hosts: ['Bad_NS/*']}]}", "invalid namespace value"),
        ("spec: {egress: [{hosts: [./*]}, {hosts: ['*/*']}]}", "should be the last listener"),
        (
            "spec: {egress: [{port: {number: 80}, hosts: [./*]},"
            " {port: {number: 80}, hosts: [./*]}]}",
            "ports on IP bound listeners must be unique",
        ),
    ],
)
def test_invalid_sidecars_are_refused_as_istio_refuses_them(spec: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        resources(
            f"apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {{name: s}}\n{spec}"
        )


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ("spec: {ingress: [{port: {number: 80}}]}", "ingress"),
        ("spec: {inboundConnectionPool: {tcp: {maxConnections: 1}}}", "inboundConnectionPool"),
        ("spec: {egress: [{bind: 127.0.0.1, hosts: [./*]}]}", "bind"),
        ("spec: {egress: [{captureMode: NONE, hosts: [./*]}]}", "captureMode"),
        (
            "spec: {outboundTrafficPolicy: {mode: ALLOW_ANY, egressProxy: {host: proxy}}}",
            "egressProxy",
        ),
    ],
)
def test_what_has_no_meaning_in_process_is_refused_by_name(spec: str, field: str) -> None:
    text = f"apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {{name: s}}\n{spec}\n"
    with pytest.raises(ConfigError, match=f"{field} is not supported yet"):
        snapshot(text)


def test_an_egress_port_imports_only_that_port_of_a_service() -> None:
    two_ports = service_entry(
        "api.default.svc.cluster.local",
        name="api",
        ports="[{number: 9080, name: http, protocol: HTTP}, "
        "{number: 9090, name: http-admin, protocol: HTTP}]",
    )
    ported = """
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default}
spec:
  egress: [{port: {number: 9080, protocol: HTTP, name: http}, hosts: [./*]}]
"""
    s = snapshot(docs(two_ports, workload("api", "10.0.0.9"), ported))
    assert [p.number for p in s.services["api.default.svc.cluster.local"].ports] == [9080]
    assert isinstance(s.decide(view("http://api:9080/")), Forward)
    assert isinstance(s.decide(view("http://api:9090/")), Reply)  # no such port here: NR
