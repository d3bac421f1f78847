"""VirtualService analyzers (analysis/_virtual_services.py), one rule per test from Istio's
documentation of each code: IST0101, IST0109, IST0112, IST0132, IST0140, IST0165."""

from __future__ import annotations

from inmesh.analysis import check

from .test_checks import REVIEWS_DR, REVIEWS_SVC, REVIEWS_V1_POD, codes, lines, load, vs

TWO_PORTS = """
apiVersion: v1
kind: Service
metadata: {name: reviews}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}, {name: http-admin, port: 9081}]
"""


def se(name: str, host: str, *, ns: str = "default", export_to: str = "") -> str:
    extra = f"  exportTo: {export_to}\n" if export_to else ""
    return f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {name}, namespace: {ns}}}
spec:
  hosts: [{host}]
  addresses: [240.0.0.1]
  location: MESH_INTERNAL
  resolution: STATIC
  endpoints: [{{address: 10.0.0.1}}]
  ports: [{{number: 80, name: http, protocol: HTTP}}]
{extra}"""


def vs_in(ns: str, host: str, dest: str, *, name: str = "route", export_to: str = "") -> str:
    extra = f"  exportTo: {export_to}\n" if export_to else ""
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {ns}}}
spec:
  hosts: [{host}]
{extra}  http:
  - route: [{{destination: {{host: {dest}}}}}]
"""


def test_ist0101_mirror_hosts() -> None:
    http = """
    - route: [{destination: {host: reviews, subset: v1}}]
      mirror: {host: shadow}
    """
    assert lines(REVIEWS_SVC, REVIEWS_V1_POD, REVIEWS_DR, vs(http)) == [
        "Error [IST0101] (VirtualService default/reviews) Referenced mirror host not found: "
        '"shadow"'
    ]
    http = """
    - route: [{destination: {host: reviews, subset: v1}}]
      mirrors: [{destination: {host: reviews, subset: v9}}]
    """
    assert lines(REVIEWS_SVC, REVIEWS_V1_POD, REVIEWS_DR, vs(http)) == [
        "Error [IST0101] (VirtualService default/reviews) Referenced mirror+subset in "
        'destinationrule not found: "reviews+v9"'
    ]


def test_ist0101_subset_of_an_unknown_host_is_reported_too() -> None:
    http = "- route: [{destination: {host: ghost, subset: v1}}]"
    assert codes(check(load(vs(http)))) == ["IST0101", "IST0101"]
    assert [m.details for m in check(load(vs(http)))] == [
        'Referenced host not found: "ghost"',
        'Referenced host+subset in destinationrule not found: "ghost+v1"',
    ]


def test_ist0101_undeclared_port_and_ist0112_ambiguous_port() -> None:
    to_port = "- route: [{destination: {host: reviews, subset: v1, port: {number: 8080}}}]"
    assert lines(REVIEWS_SVC, REVIEWS_V1_POD, REVIEWS_DR, vs(to_port)) == [
        "Error [IST0101] (VirtualService default/reviews) Referenced host:port not found: "
        '"reviews:8080"'
    ]
    no_port = "- route: [{destination: {host: reviews, subset: v1}}]"
    assert lines(TWO_PORTS, REVIEWS_V1_POD, REVIEWS_DR, vs(no_port)) == [
        'Error [IST0112] (VirtualService default/reviews) This VirtualService routes to a service "'
        'reviews" that exposes multiple ports [9080 9081]. Specifying a port in the destination '
        "is required to disambiguate."
    ]
    with_port = "- route: [{destination: {host: reviews, subset: v1, port: {number: 9081}}}]"
    assert check(load(TWO_PORTS, REVIEWS_V1_POD, REVIEWS_DR, vs(with_port))) == []


def test_ist0101_export_to_hides_a_service_entry_from_other_namespaces() -> None:
    local = se("api", "api.example.com", ns="a", export_to='["."]')
    assert codes(check(load(local, vs_in("b", "x.example.com", "api.example.com")))) == ["IST0101"]
    assert check(load(local, vs_in("a", "x.example.com", "api.example.com"))) == []
    to_b = se("api", "api.example.com", ns="a", export_to="[b]")
    assert check(load(to_b, vs_in("b", "x.example.com", "api.example.com"))) == []


def test_ist0101_export_to_annotation_of_a_service() -> None:
    svc = """
    apiVersion: v1
    kind: Service
    metadata:
      name: api
      namespace: a
      annotations: {networking.istio.io/exportTo: "."}
    spec: {ports: [{name: http, port: 80}]}
    """
    assert codes(check(load(svc, vs_in("b", "x.example.com", "api.a.svc.cluster.local")))) == [
        "IST0101"
    ]
    assert check(load(svc, vs_in("a", "x.example.com", "api"))) == []


def test_ist0109_once_per_virtual_service_and_scoped_by_export_to() -> None:
    a = se("api", "api.example.com")
    one = vs_in("a", "api.example.com", "api.example.com", name="one")
    two = vs_in("b", "api.example.com", "api.example.com", name="two")
    msgs = check(load(a, one, two))
    assert [(m.code, m.resource) for m in msgs] == [
        ("IST0109", "VirtualService a/one"),
        ("IST0109", "VirtualService b/two"),
    ]
    assert "define the same host */api.example.com" in msgs[0].details
    # Each kept to its own namespace: no conflict.
    one = vs_in("a", "api.example.com", "api.example.com", name="one", export_to='["."]')
    two = vs_in("b", "api.example.com", "api.example.com", name="two", export_to='["."]')
    assert check(load(a, one, two)) == []


def test_ist0109_wildcard_host_of_a_scoped_virtual_service() -> None:
    a = se("api", "api.example.com")
    wide = vs_in("a", '"*.example.com"', "api.example.com", name="wide")
    narrow = vs_in("a", '"*.api.example.com"', "api.example.com", name="narrow", export_to="[a]")
    assert codes(check(load(a, wide, narrow))) == ["IST0109", "IST0109"]


def test_ist0132_host_not_served_by_the_gateway_and_ist0140() -> None:
    gateway = """
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: gw}
    spec:
      selector: {istio: ingressgateway}
      servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [shop.example.com]}]
    """
    ingress = """
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: ingress}
    spec:
      hosts: [www.example.com]
      gateways: [gw]
      http: [{route: [{destination: {host: reviews}}]}]
    """
    msgs = check(
        load(
            REVIEWS_SVC,
            REVIEWS_V1_POD,
            REVIEWS_DR,
            gateway,
            ingress,
            vs("- route: [{destination: {host: reviews, subset: v1}}]"),
        )
    )
    assert [m.format() for m in msgs] == [
        "Warning [IST0132] (VirtualService default/ingress) one or more host "
        "[www.example.com] defined in VirtualService default/ingress not found in Gateway "
        "default/gw.",
        "Warning [IST0140] (VirtualService default/ingress) Subset in virtual service "
        "default/reviews has no effect on ingress gateway default/ingress requests",
    ]
    served = ingress.replace("www.example.com", "shop.example.com")
    assert check(load(REVIEWS_SVC, REVIEWS_V1_POD, REVIEWS_DR, gateway, served)) == []
