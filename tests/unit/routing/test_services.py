"""The service registry (routing/_services.py): ServiceEntry, WorkloadEntry, Kubernetes
Service, turned into services with ports and endpoints as Istio's registry builds them."""

from __future__ import annotations

from inmesh.routing._services import Service, build_services

from ._support import docs, resources, service_entry, snapshot, workload


def services(text: str, client_ns: str = "default", **kw: object) -> dict[str, Service]:
    rs = resources(text)

    def kind(k: str) -> list[object]:
        return [r for r in rs if r.kind == k]

    return build_services(
        kind("ServiceEntry"), kind("WorkloadEntry"), kind("Service"), client_ns, **kw
    )


def endpoints(svc: Service, port: int) -> list[tuple[str, int]]:
    p = svc.port(port)
    assert p is not None
    return sorted((e.address, e.port) for e in svc.endpoints(p))


STATIC = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {number: 80, name: http, protocol: HTTP}
  - {number: 81, name: admin, protocol: HTTP, targetPort: 9901}
  - {number: 82, name: metrics, protocol: HTTP}
  endpoints:
  - address: 10.0.0.1
    ports: {http: 8080}
  - address: 10.0.0.2
  - address: 10.0.0.3
    ports: {metrics: 9090}
"""


def test_static_endpoint_ports_by_name_then_target_port_then_number() -> None:
    svc = services(STATIC)["api.internal"]
    assert svc.resolution == "STATIC" and svc.location == "MESH_INTERNAL"
    # the endpoint's port for the service port's name; else targetPort; else the number
    assert endpoints(svc, 80) == [("10.0.0.1", 8080), ("10.0.0.2", 80), ("10.0.0.3", 80)]
    assert endpoints(svc, 81) == [("10.0.0.1", 9901), ("10.0.0.2", 9901), ("10.0.0.3", 9901)]
    assert endpoints(svc, 82) == [("10.0.0.1", 82), ("10.0.0.2", 82), ("10.0.0.3", 9090)]


def test_service_port_lookup() -> None:
    svc = services(STATIC)["api.internal"]
    assert svc.port(81) is not None and svc.port(81).name == "admin"  # type: ignore[union-attr]
    assert svc.port(99) is None
    assert svc.port(None) is None  # several ports: no implicit one
    one = services(service_entry("one.internal"))["one.internal"]
    assert one.port(None) is not None and one.port(None).number == 9080  # type: ignore[union-attr]


def test_workload_selector_picks_workload_entries_of_its_own_namespace() -> None:
    text = docs(
        service_entry("reviews.default.svc.cluster.local", name="reviews"),
        workload("reviews", "10.0.0.1", extra="  ports: {http: 19080}"),
        workload("reviews", "10.0.0.2", version="v2"),
        workload("reviews", "10.0.0.3", namespace="shop"),  # other namespace: not selected
        workload("ratings", "10.0.0.4"),  # other labels: not selected
    )
    svc = services(text)["reviews.default.svc.cluster.local"]
    assert endpoints(svc, 9080) == [("10.0.0.1", 19080), ("10.0.0.2", 9080)]


def test_workload_entry_attributes_are_kept() -> None:
    text = docs(
        service_entry("reviews.default.svc.cluster.local", name="reviews"),
        workload(
            "reviews",
            "10.0.0.1",
            extra="  locality: us-east/zone1/sub1\n  weight: 3\n  network: n1\n"
            "  serviceAccount: reviews-sa",
        ),
    )
    svc = services(text)["reviews.default.svc.cluster.local"]
    port = svc.port(9080)
    assert port is not None
    (ep,) = svc.endpoints(port)
    assert ep.locality == "us-east/zone1/sub1"
    assert (ep.weight, ep.network, ep.service_account) == (3, "n1", "reviews-sa")
    assert ep.labels == {"app": "reviews", "version": "v1"}


KUBE = """
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: default}
spec:
  selector: {app: ratings}
  ports:
  - {name: http, port: 9080, targetPort: 8080}
  - {name: grpc-api, port: 9090, targetPort: api}
  - {name: metrics, port: 9100}
  - {name: tcp-db, port: 5432, appProtocol: postgresql}
"""


def test_kubernetes_service_selects_workload_entries_and_maps_target_ports() -> None:
    text = docs(
        KUBE,
        workload("ratings", "10.0.1.1", extra="  ports: {api: 7000}"),
        workload("ratings", "10.0.1.2"),
        workload("ratings", "10.0.1.3", namespace="shop"),
    )
    svc = services(text)["ratings.default.svc.cluster.local"]
    assert svc.location == "MESH_INTERNAL"
    assert endpoints(svc, 9080) == [("10.0.1.1", 8080), ("10.0.1.2", 8080)]
    # a named targetPort: the workload's port of that name; a workload without it is skipped
    assert endpoints(svc, 9090) == [("10.0.1.1", 7000)]
    assert endpoints(svc, 9100) == [("10.0.1.1", 9100), ("10.0.1.2", 9100)]


def test_kubernetes_port_protocol_selection() -> None:
    svc = services(KUBE)["ratings.default.svc.cluster.local"]
    protocols = {p.number: p.protocol for p in svc.ports}
    # appProtocol first, then the name prefix (Istio's protocol selection)
    assert protocols == {9080: "HTTP", 9090: "GRPC", 9100: "HTTP", 5432: "POSTGRESQL"}


def test_kubernetes_service_without_selector_has_no_endpoints() -> None:
    text = docs(KUBE.replace("  selector: {app: ratings}\n", ""), workload("ratings", "10.0.1.1"))
    svc = services(text)["ratings.default.svc.cluster.local"]
    assert endpoints(svc, 9080) == []


def test_a_service_entry_wins_over_a_kubernetes_service_of_the_same_host() -> None:
    se = service_entry("ratings.default.svc.cluster.local", name="ratings-se")
    svc = services(docs(KUBE, se))["ratings.default.svc.cluster.local"]
    assert [p.number for p in svc.ports] == [9080]


def test_dns_resolution_without_endpoints_resolves_the_host_itself() -> None:
    text = """
    apiVersion: networking.istio.io/v1
    kind: ServiceEntry
    metadata: {name: ext}
    spec:
      hosts: [api.example.com, www.example.com]
      location: MESH_EXTERNAL
      resolution: DNS
      ports: [{number: 443, name: https, protocol: HTTPS}]
    """
    svcs = services(text)
    assert endpoints(svcs["api.example.com"], 443) == [("api.example.com", 443)]
    assert endpoints(svcs["www.example.com"], 443) == [("www.example.com", 443)]


def test_dns_resolution_with_endpoints_uses_them() -> None:
    text = """
    apiVersion: networking.istio.io/v1
    kind: ServiceEntry
    metadata: {name: ext}
    spec:
      hosts: [api.example.com]
      resolution: DNS
      ports: [{number: 80, name: http, protocol: HTTP}]
      endpoints: [{address: eu.api.example.com}, {address: us.api.example.com}]
    """
    svc = services(text)["api.example.com"]
    assert endpoints(svc, 80) == [("eu.api.example.com", 80), ("us.api.example.com", 80)]


def test_resolution_none_sends_to_the_original_destination() -> None:
    text = """
    apiVersion: networking.istio.io/v1
    kind: ServiceEntry
    metadata: {name: ext}
    spec:
      hosts: ["*.example.com"]
      resolution: NONE
      ports: [{number: 80, name: http, protocol: HTTP}]
    """
    snap = snapshot(text)
    svc = snap.services["*.example.com"]
    assert svc.resolution == "NONE" and svc.location == "MESH_EXTERNAL"  # the defaults
    cluster = snap.clusters[("*.example.com", None, 80)]
    assert cluster.original_destination
    assert cluster.endpoints == ()


def test_two_service_entries_for_one_host_merge() -> None:
    a = """
    apiVersion: networking.istio.io/v1
    kind: ServiceEntry
    metadata: {name: a}
    spec:
      hosts: [api.internal]
      resolution: STATIC
      ports: [{number: 80, name: http, protocol: HTTP}]
      endpoints: [{address: 10.0.0.1}]
    """
    b = """
    apiVersion: networking.istio.io/v1
    kind: ServiceEntry
    metadata: {name: b}
    spec:
      hosts: [api.internal]
      resolution: STATIC
      ports: [{number: 80, name: http, protocol: HTTP}, {number: 81, name: admin, protocol: HTTP}]
      endpoints: [{address: 10.0.0.2}]
    """
    svc = services(docs(a, b))["api.internal"]
    assert [p.number for p in svc.ports] == [80, 81]
    assert endpoints(svc, 80) == [("10.0.0.1", 80), ("10.0.0.2", 80)]


def test_export_to_hides_a_service_entry_from_other_namespaces() -> None:
    text = service_entry("api.internal", name="api", namespace="shop").replace(
        "  location:", "  exportTo: ['.']\n  location:"
    )
    assert "api.internal" not in services(text, client_ns="default")
    assert "api.internal" in services(text, client_ns="shop")


def test_addresses_and_hosts_are_lower_case() -> None:
    text = service_entry("API.Internal", name="api", extra="  addresses: [10.96.0.10]")
    svc = services(text)["api.internal"]
    assert svc.addresses == ("10.96.0.10",)
