"""ServiceEntry and WorkloadEntry: Istio's validation rules, from real YAML."""

from __future__ import annotations

import textwrap
from pathlib import Path

from inmesh.config import ServiceEntry, WorkloadEntry

from ._helpers import assert_problem, load, problems

SE = "ServiceEntry default/ext"


def se(spec: str) -> str:
    body = textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ")
    return (
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: ext\n"
        "spec:\n" + body + "\n"
    )


def test_static_entry_with_endpoints(tmp_path: Path) -> None:
    [entry] = load(
        tmp_path,
        se("""
    hosts: [db.internal]
    addresses: [10.0.0.0/24]
    location: MESH_INTERNAL
    resolution: STATIC
    ports: [{number: 5432, name: tcp-pg, protocol: TCP, targetPort: 15432}]
    endpoints:
    - {address: 10.0.0.5, ports: {tcp-pg: 5433}, labels: {version: v1}, weight: 3,
       locality: us-east/a, network: n1, serviceAccount: db}
    """),
    )
    assert isinstance(entry, ServiceEntry)
    spec = entry.spec
    assert spec.resolution == "STATIC" and spec.location == "MESH_INTERNAL"
    assert spec.ports[0].target_port == 15432
    endpoint = spec.endpoints[0]
    assert (endpoint.address, endpoint.ports["tcp-pg"], endpoint.weight) == ("10.0.0.5", 5433, 3)
    assert endpoint.service_account == "db"


def test_static_needs_endpoints_or_a_selector(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        se("""
    hosts: [db.internal]
    resolution: STATIC
    ports: [{number: 80, name: http, protocol: HTTP}]
    """),
        field="spec.endpoints",
        says="endpoints or a workloadSelector",
        resource=SE,
    )
    [entry] = load(
        tmp_path,
        se("""
    hosts: [db.internal]
    resolution: STATIC
    ports: [{number: 80, name: http, protocol: HTTP}]
    workloadSelector: {labels: {app: db}}
    """),
    )
    assert entry.spec.workload_selector is not None
    assert entry.spec.workload_selector.labels == {"app": "db"}


def test_selector_and_endpoints_are_exclusive(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        se("""
    hosts: [db.internal]
    resolution: STATIC
    ports: [{number: 80, name: http, protocol: HTTP}]
    workloadSelector: {labels: {app: db}}
    endpoints: [{address: 10.0.0.1}]
    """),
        field="spec.workloadSelector",
        says="only one of workloadSelector or endpoints",
    )


def test_port_rules(tmp_path: Path) -> None:
    found = {
        p.field: p.message
        for p in problems(
            tmp_path,
            se("""
    hosts: [api.example.com]
    resolution: DNS
    ports:
    - {number: 70000, name: http, protocol: HTTP}
    - {number: 443, name: http, protocol: HTTPS}
    - {number: 443, name: https, protocol: QUIC}
    """),
        )
    }
    assert "between 1 and 65535" in found["spec.ports[0].number"]
    assert "already defined" in found["spec.ports[1].name"]
    assert "already defined" in found["spec.ports[2].number"]
    assert "unsupported protocol" in found["spec.ports[2].protocol"]


def test_host_rules(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        se("""
    hosts: ["*"]
    ports: [{number: 80, name: http, protocol: HTTP}]
    """),
        field="spec.hosts[0]",
        says="invalid host *",
    )
    assert_problem(
        tmp_path,
        se("""
    hosts: ["*.example.com"]
    resolution: DNS
    ports: [{number: 80, name: http, protocol: HTTP}]
    """),
        field="spec.hosts[0]",
        says="hosts must be FQDN if no endpoints",
    )
    assert_problem(
        tmp_path,
        se("""
    hosts: [a.example.com, b.example.com]
    resolution: DNS
    ports: [{number: 3306, name: tcp, protocol: TCP}]
    """),
        field="spec.ports[0].protocol",
        says="multiple hosts provided with non-HTTP",
    )


def test_resolution_rules(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        se("""
    hosts: [a.example.com]
    resolution: NONE
    ports: [{number: 80, name: http, protocol: HTTP}]
    endpoints: [{address: 1.2.3.4}]
    """),
        field="spec.endpoints",
        says="no endpoints should be provided",
    )
    assert_problem(
        tmp_path,
        se("""
    hosts: [a.example.com]
    addresses: [10.0.0.0/8]
    resolution: DNS
    ports: [{number: 80, name: http, protocol: HTTP}]
    """),
        field="spec.addresses",
        says="CIDR addresses are allowed only for NONE/STATIC",
    )
    assert_problem(
        tmp_path,
        se("""
    hosts: [a.example.com]
    resolution: DNS_ROUND_ROBIN
    ports: [{number: 80, name: http, protocol: HTTP}]
    endpoints: [{address: a1.example.com}, {address: a2.example.com}]
    """),
        field="spec.endpoints",
        says="only be 0 or 1 endpoint",
    )
    assert_problem(
        tmp_path,
        se("""
    hosts: [a.example.com]
    resolution: MAGIC
    """),
        field="spec.resolution",
        says="'DNS_ROUND_ROBIN'",
    )


def test_static_endpoints_need_ip_addresses_and_known_ports(tmp_path: Path) -> None:
    found = {
        p.field: p.message
        for p in problems(
            tmp_path,
            se("""
    hosts: [a.example.com]
    resolution: STATIC
    ports: [{number: 80, name: http, protocol: HTTP}]
    endpoints: [{address: a.example.com, ports: {grpc: 9090}}]
    """),
        )
    }
    assert "not a valid IP address" in found["spec.endpoints[0].address"]
    assert "not defined by the service entry" in found["spec.endpoints[0].ports.grpc"]


def test_invalid_addresses(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        se("""
    hosts: [a.example.com]
    addresses: [not-an-ip]
    """),
        field="spec.addresses[0]",
        says="not a valid IP address or CIDR",
    )


WE = "apiVersion: networking.istio.io/v1beta1\nkind: WorkloadEntry\nmetadata:\n  name: vm1\n"


def test_workload_entry(tmp_path: Path) -> None:
    [entry] = load(
        tmp_path,
        WE
        + """spec:
  address: vm1.example.com
  ports: {http: 8080}
  labels: {app: ratings, version: v2-mysql-vm}
  serviceAccount: bookinfo-ratings
""",
    )
    assert isinstance(entry, WorkloadEntry)
    assert entry.api_version == "networking.istio.io/v1beta1"
    assert entry.spec.labels["version"] == "v2-mysql-vm"


def test_workload_entry_rules(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        WE + "spec:\n  ports: {http: 8080}\n",
        field="spec.address",
        says="address is required",
        resource="WorkloadEntry default/vm1",
    )
    assert_problem(
        tmp_path,
        WE + "spec:\n  address: 10.0.0.1\n  ports: {http: 0}\n",
        field="spec.ports.http",
        says="between 1 and 65535",
    )
    assert_problem(
        tmp_path,
        WE + "spec:\n  address: unix:///sock\n  ports: {http: 80}\n",
        field="spec.ports",
        says="must not include ports",
    )
