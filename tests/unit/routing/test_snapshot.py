"""Snapshot.decide (routing/_snapshot.py): the pure routing decision for one request, with
the answers an Istio sidecar gives when it ends a request itself."""

from __future__ import annotations

from typing import Any

import pytest

from inmesh._flags import BLACKHOLE, NO_CLUSTER, NO_HEALTHY_UPSTREAM, NO_ROUTE
from inmesh.config import HTTPRouteDestination
from inmesh.routing import (
    OUTBOUND_REGISTRY_ONLY,
    ClientIdentity,
    Forward,
    Passthrough,
    Redirect,
    Reply,
    Snapshot,
)

from ._support import docs, resources, service_entry, snapshot, view, workload

REVIEWS = "reviews.default.svc.cluster.local"
MESH = docs(
    service_entry(REVIEWS, name="reviews"),
    workload("reviews", "10.0.0.1", version="v1"),
    workload("reviews", "10.0.0.2", version="v2"),
    """
    apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: reviews}
    spec:
      host: reviews
      subsets:
      - {name: v1, labels: {version: v1}}
      - {name: v2, labels: {version: v2}}
    """,
)


TWO_PORTS = "[{number: 8080, name: http, protocol: HTTP}, {number: 8081, name: a, protocol: HTTP}]"


def vs(http: str, *, name: str = "reviews", hosts: str = "[reviews]", extra: str = "") -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}}}
spec:
  hosts: {hosts}
{extra}  http:
{http}"""


TO_V2 = """
  - route:
    - destination: {host: reviews, subset: v2}
"""


def decide(*extra: str, url: str = "http://reviews:9080/", **kw: Any) -> Any:
    headers = kw.pop("headers", None)
    method = kw.pop("method", "GET")
    snap = snapshot(docs(MESH, *extra), **kw)
    return snap.decide(view(url, method=method, headers=headers))


def forwarded(decision: Any) -> tuple[str, str | None, int]:
    assert isinstance(decision, Forward), decision
    c = decision.cluster
    return c.service.host, c.subset, c.port.number


# -- not a mesh host -----------------------------------------------------------------------


def test_unknown_host_passes_through_by_default() -> None:
    assert isinstance(decide(url="http://example.org/"), Passthrough)


def test_registry_only_answers_502_blackhole() -> None:
    d = decide(url="http://example.org/", outbound_policy=OUTBOUND_REGISTRY_ONLY)
    assert isinstance(d, Reply)
    assert d.reply == BLACKHOLE and (d.reply.status, d.reply.flag) == (502, "NR")
    assert d.cluster_name == "BlackHoleCluster"


def test_registry_only_still_routes_mesh_hosts() -> None:
    d = decide(outbound_policy=OUTBOUND_REGISTRY_ONLY)
    assert forwarded(d) == (REVIEWS, None, 9080)


def test_the_short_name_only_resolves_in_the_same_namespace() -> None:
    assert isinstance(decide(namespace="shop"), Passthrough)
    assert forwarded(decide(url="http://reviews.default:9080/", namespace="shop")) == (
        REVIEWS,
        None,
        9080,
    )


# -- the default route ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://reviews:9080/",
        "http://reviews.default:9080/a",
        "http://reviews.default.svc:9080/a",
        f"http://{REVIEWS}:9080/a?b=c",
    ],
)
def test_no_virtual_service_forwards_to_the_service(url: str) -> None:
    d = decide(url=url)
    assert forwarded(d) == (REVIEWS, None, 9080)
    assert d.route is None and d.destination is None
    assert d.cluster.name == f"outbound|9080||{REVIEWS}"
    assert sorted(e.address for e in d.cluster.endpoints) == ["10.0.0.1", "10.0.0.2"]


def test_url_without_port_reaches_a_one_port_service() -> None:
    assert forwarded(decide(url="http://reviews/")) == (REVIEWS, None, 9080)


def test_an_explicit_undeclared_port_is_no_route() -> None:
    d = decide(url="http://reviews:9081/")
    assert isinstance(d, Reply) and d.reply == NO_ROUTE
    assert (d.reply.status, d.reply.flag) == (404, "NR")


def test_url_without_port_to_a_multi_port_service_is_no_route() -> None:
    two = service_entry("multi.internal", ports=TWO_PORTS)
    d = decide(two, url="http://multi.internal/")
    assert isinstance(d, Reply) and d.reply == NO_ROUTE
    assert forwarded(decide(two, url="http://multi.internal:8081/")) == (
        "multi.internal",
        None,
        8081,
    )


def test_a_service_address_is_a_host_too() -> None:
    se = service_entry("api.internal", extra="  addresses: [10.96.0.10]")
    assert forwarded(decide(se, url="http://10.96.0.10:9080/")) == ("api.internal", None, 9080)


# -- VirtualService routes -----------------------------------------------------------------


def test_virtual_service_routes_to_a_subset() -> None:
    d = decide(vs(TO_V2))
    assert forwarded(d) == (REVIEWS, "v2", 9080)
    assert d.cluster.name == f"outbound|9080|v2|{REVIEWS}"
    assert [e.address for e in d.cluster.endpoints] == ["10.0.0.2"]
    assert d.route is not None and d.destination is not None


def test_no_matching_route_is_404_nr() -> None:
    http = """
  - match: [{headers: {end-user: {exact: jason}}}]
    route:
    - destination: {host: reviews, subset: v2}
"""
    d = decide(vs(http))
    assert isinstance(d, Reply) and d.reply == NO_ROUTE
    assert forwarded(decide(vs(http), headers={"end-user": "jason"})) == (REVIEWS, "v2", 9080)


def test_first_matching_route_wins() -> None:
    http = """
  - match: [{uri: {prefix: /a}}]
    route: [{destination: {host: reviews, subset: v1}}]
  - match: [{uri: {prefix: /a/b}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v2}}]
"""
    assert forwarded(decide(vs(http), url="http://reviews:9080/a/b"))[1] == "v1"
    assert forwarded(decide(vs(http), url="http://reviews:9080/c"))[1] == "v2"


def test_an_undefined_subset_is_503_nc() -> None:
    http = """
  - route: [{destination: {host: reviews, subset: v9}}]
"""
    d = decide(vs(http))
    assert isinstance(d, Reply) and d.reply == NO_CLUSTER
    assert (d.reply.status, d.reply.flag) == (503, "NC")
    assert d.cluster_name == f"outbound|9080|v9|{REVIEWS}"


def test_a_destination_host_that_is_no_service_is_503_nc() -> None:
    http = """
  - route: [{destination: {host: nowhere}}]
"""
    d = decide(vs(http))
    assert isinstance(d, Reply) and d.reply == NO_CLUSTER


def test_all_zero_weights_answer_503_uh() -> None:
    # Validation rejects it (Istio: "total destination weight = 0"); a route compiled from
    # unvalidated models still answers as Envoy does with no cluster to pick: 503 UH.
    text = vs(
        """
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 1
    - destination: {host: reviews, subset: v2}
"""
    )
    rs = resources(docs(MESH, text))
    v = rs[-1]
    route = v.spec.http[0]
    zero = tuple(
        HTTPRouteDestination.model_validate({"destination": d.destination, "weight": 0})
        for d in route.route
    )
    http = (route.model_copy(update={"route": zero}),)
    rs[-1] = v.model_copy(update={"spec": v.spec.model_copy(update={"http": http})})
    snap = Snapshot(rs, ClientIdentity(service="productpage"))
    d = snap.decide(view("http://reviews:9080/"))
    assert isinstance(d, Reply) and d.reply == NO_HEALTHY_UPSTREAM
    assert (d.reply.status, d.reply.body, d.reply.flag) == (503, "no healthy upstream", "UH")


def test_route_destination_port() -> None:
    two = service_entry("multi.internal", ports=TWO_PORTS)
    http = """
  - route: [{destination: {host: multi.internal, port: {number: 8081}}}]
"""
    d = decide(
        two, vs(http, name="multi", hosts="[multi.internal]"), url="http://multi.internal:8080/"
    )
    assert forwarded(d) == ("multi.internal", None, 8081)


def test_a_match_on_port_sees_the_service_port_of_a_url_without_one() -> None:
    # http://reviews/ reaches reviews:9080 (the one declared port), so a route matching
    # port 9080 applies, as it does on the sidecar's 9080 listener.
    http = """
  - match: [{port: 9080}]
    route: [{destination: {host: reviews, subset: v2}}]
"""
    assert forwarded(decide(vs(http), url="http://reviews/"))[1] == "v2"
    assert forwarded(decide(vs(http), url="http://reviews:9080/"))[1] == "v2"


def test_redirect_decision() -> None:
    http = """
  - match: [{uri: {exact: /old}}]
    redirect: {uri: /new, redirectCode: 302}
"""
    d = decide(vs(http), url="http://reviews:9080/old?x=1")
    assert isinstance(d, Redirect)
    assert (d.status, d.location) == (302, "http://reviews:9080/new?x=1")


def test_https_scheme_skips_http_routes() -> None:
    # TLS from the application: the sidecar cannot see HTTP inside, so `http` routes do not
    # apply and the request goes to the service's endpoints as it is.
    http = """
  - match: [{uri: {exact: /never}}]
    route: [{destination: {host: reviews, subset: v2}}]
"""
    assert isinstance(decide(vs(http), url="http://reviews:9080/"), Reply)
    assert forwarded(decide(vs(http), url="https://reviews:9080/")) == (REVIEWS, None, 9080)


# -- which VirtualServices apply -----------------------------------------------------------


def test_a_virtual_service_bound_only_to_a_gateway_is_ignored() -> None:
    gw_only = vs(TO_V2, extra="  gateways: [istio-system/ingress]\n")
    assert forwarded(decide(gw_only)) == (REVIEWS, None, 9080)
    both = vs(TO_V2, extra="  gateways: [istio-system/ingress, mesh]\n")
    assert forwarded(decide(both)) == (REVIEWS, "v2", 9080)


def test_conflicting_virtual_services_first_wins() -> None:
    to_v1 = vs("  - route: [{destination: {host: reviews, subset: v1}}]\n", name="a")
    to_v2 = vs(TO_V2, name="b")
    assert forwarded(decide(to_v1, to_v2))[1] == "v1"
    assert forwarded(decide(to_v2, to_v1))[1] == "v2"


def test_virtual_service_export_to() -> None:
    private = vs(TO_V2, extra="  exportTo: ['.']\n").replace(
        "metadata: {name: reviews}", "metadata: {name: reviews, namespace: shop}"
    )
    private = private.replace("hosts: [reviews]", f"hosts: [{REVIEWS}]")
    private = private.replace("host: reviews,", f"host: {REVIEWS},")
    assert forwarded(decide(private))[1] is None  # not exported to default
    assert forwarded(decide(private, url=f"http://{REVIEWS}:9080/", namespace="shop"))[1] == "v2"


def test_a_virtual_service_for_a_host_with_no_service() -> None:
    http = """
  - route: [{destination: {host: reviews, subset: v1}}]
"""
    d = decide(
        vs(http, name="alias", hosts="[reviews.example.com]"), url="http://reviews.example.com/"
    )
    assert forwarded(d) == (REVIEWS, "v1", 9080)


def test_source_labels_route_for_the_matching_client_only() -> None:
    http = """
  - match: [{sourceLabels: {version: v2}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]
"""
    assert forwarded(decide(vs(http), labels={"version": "v2"}))[1] == "v2"
    assert forwarded(decide(vs(http), labels={"version": "v1"}))[1] == "v1"


def test_cluster_for() -> None:
    snap = snapshot(MESH)
    c = snap.cluster_for("reviews", "v1", None)
    assert c is not None and c.name == f"outbound|9080|v1|{REVIEWS}"
    assert snap.cluster_for("reviews", "v9", 9080) is None
    assert snap.cluster_for("nowhere", None, 80) is None
