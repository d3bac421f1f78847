"""Cross-reference analysis (analysis/_checks.py): each code fires on a minimal broken
configuration, with istioctl's level and wording, and stays quiet on the corrected one."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from inmesh.analysis import Message, check
from inmesh.config import HTTPRouteDestination, Resource, parse_documents


def load(*docs: str) -> list[Resource]:
    text = "\n---\n".join(textwrap.dedent(d).strip("\n") for d in docs)
    return parse_documents([d for d in yaml.safe_load_all(text) if d is not None])


def codes(msgs: list[Message]) -> list[str]:
    return [m.code for m in msgs]


def lines(*docs: str) -> list[str]:
    return [m.format() for m in check(load(*docs))]


REVIEWS_SVC = """
apiVersion: v1
kind: Service
metadata: {name: reviews}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
"""
REVIEWS_V1_POD = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v1}
spec:
  selector: {matchLabels: {app: reviews, version: v1}}
  template:
    metadata: {labels: {app: reviews, version: v1}}
    spec: {containers: [{name: reviews, image: reviews:v1}]}
"""
RATINGS_V2_POD = REVIEWS_V1_POD.replace("reviews", "ratings").replace("version: v1", "version: v2")
REVIEWS_DR = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
"""


def vs(http: str, *, name: str = "reviews", hosts: str = "[reviews]", extra: str = "") -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}}}
spec:
  hosts: {hosts}
{extra}  http:
{textwrap.indent(textwrap.dedent(http).strip(chr(10)), "  ")}
"""


TO_V1 = """
- route: [{destination: {host: reviews, subset: v1}}]
"""


def test_correct_configuration_has_no_messages() -> None:
    assert check(load(REVIEWS_SVC, REVIEWS_V1_POD, REVIEWS_DR, vs(TO_V1))) == []


# -- IST0101 ReferencedResourceNotFound ----------------------------------------------------


def test_ist0101_host() -> None:
    http = "- route: [{destination: {host: ratings}}]"
    assert lines(REVIEWS_SVC, vs(http)) == [
        'Error [IST0101] (VirtualService default/reviews) Referenced host not found: "ratings"'
    ]
    assert lines(REVIEWS_SVC, vs("- route: [{destination: {host: reviews}}]")) == []


def test_ist0101_host_through_a_service_entry_and_its_wildcards() -> None:
    se = """
    apiVersion: networking.istio.io/v1
    kind: ServiceEntry
    metadata: {name: ext}
    spec:
      hosts: ["*.example.com"]
      ports: [{number: 80, name: http, protocol: HTTP}]
    """
    http = "- route: [{destination: {host: api.example.com}}]"
    assert lines(se, vs(http, name="ext", hosts="[api.example.com]")) == []
    http = "- route: [{destination: {host: api.example.org}}]"
    assert codes(check(load(se, vs(http, name="ext", hosts="[api.example.org]")))) == ["IST0101"]


def test_ist0101_short_host_is_relative_to_the_vs_namespace() -> None:
    other = vs("- route: [{destination: {host: reviews}}]").replace(
        "metadata: {name: reviews}", "metadata: {name: reviews, namespace: shop}"
    )
    assert codes(check(load(REVIEWS_SVC, other))) == ["IST0101"]
    fqdn = other.replace("host: reviews}", "host: reviews.default.svc.cluster.local}")
    assert check(load(REVIEWS_SVC, fqdn)) == []


def test_ist0101_subset() -> None:
    http = "- route: [{destination: {host: reviews, subset: v4}}]"
    assert lines(REVIEWS_SVC, REVIEWS_V1_POD, REVIEWS_DR, vs(http)) == [
        "Error [IST0101] (VirtualService default/reviews) Referenced host+subset in "
        'destinationrule not found: "reviews+v4"'
    ]


def test_ist0101_gateway() -> None:
    bound = vs(TO_V1, extra="  gateways: [bookinfo-gateway]\n")
    # GatewayAnalyzer: a gateway that does not exist serves no host either (IST0132).
    assert lines(REVIEWS_SVC, REVIEWS_V1_POD, REVIEWS_DR, bound) == [
        "Error [IST0101] (VirtualService default/reviews) Referenced gateway not found: "
        '"bookinfo-gateway"',
        "Warning [IST0132] (VirtualService default/reviews) one or more host [reviews] "
        "defined in VirtualService default/reviews not found in Gateway "
        "default/bookinfo-gateway.",
    ]
    gateway = """
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: bookinfo-gateway}
    spec:
      selector: {istio: ingressgateway}
      servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
    """
    assert check(load(REVIEWS_SVC, REVIEWS_V1_POD, REVIEWS_DR, bound, gateway)) == []
    # namespace/name, and the reserved name mesh
    other_ns = vs(TO_V1, extra="  gateways: [istio-system/bookinfo-gateway, mesh]\n")
    assert codes(check(load(REVIEWS_SVC, REVIEWS_V1_POD, REVIEWS_DR, other_ns, gateway))) == [
        "IST0101",
        "IST0132",
    ]


# -- IST0109 ConflictingMeshGatewayVirtualServiceHosts -------------------------------------


def test_ist0109_two_virtual_services_for_one_host() -> None:
    a = vs(TO_V1, name="a")
    b = vs(TO_V1, name="b", hosts="[reviews.default.svc.cluster.local]")
    msgs = check(load(REVIEWS_SVC, REVIEWS_V1_POD, REVIEWS_DR, a, b))
    assert codes(msgs) == ["IST0109", "IST0109"]
    assert [m.resource for m in msgs] == [
        "VirtualService default/a",
        "VirtualService default/b",
    ]
    assert msgs[0].level == "Error"
    assert msgs[0].details == (
        "The VirtualServices default/a,default/b associated with mesh gateway define the same "
        "host */reviews.default.svc.cluster.local which can lead to undefined behavior. This can "
        "be fixed by merging the conflicting VirtualServices into a single resource."
    )


def test_ist0109_not_for_gateway_only_virtual_services() -> None:
    gw = """
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: gw}
    spec:
      selector: {istio: ingressgateway}
      servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
    """
    a = vs(TO_V1, name="a")
    b = vs(TO_V1, name="b", extra="  gateways: [gw]\n")
    assert check(load(REVIEWS_SVC, REVIEWS_V1_POD, REVIEWS_DR, gw, a, b)) == []


def test_the_same_resource_twice_is_one_resource() -> None:
    # Istio's file source applies documents like kubectl apply: a later VirtualService
    # default/reviews replaces the earlier one instead of conflicting with it.
    first = vs("- route: [{destination: {host: reviews, subset: v4}}]")
    assert check(load(REVIEWS_SVC, REVIEWS_V1_POD, REVIEWS_DR, first, vs(TO_V1))) == []
    assert codes(check(load(REVIEWS_SVC, REVIEWS_V1_POD, REVIEWS_DR, vs(TO_V1), first))) == [
        "IST0101"
    ]


# -- IST0130 VirtualServiceUnreachableRule, IST0131 VirtualServiceIneffectiveMatch ---------

ROUTE = "route: [{destination: {host: reviews}}]"


def rules(http: str) -> list[str]:
    return [m.format() for m in check(load(REVIEWS_SVC, vs(http)))]


def test_ist0130_a_second_rule_without_matches() -> None:
    http = f"""
    - {ROUTE}
    - {ROUTE}
    """
    assert rules(http) == [
        "Warning [IST0130] (VirtualService default/reviews) VirtualService rule #1 not used "
        "(only the last rule can have no matches)."
    ]


def test_ist0130_a_rule_after_a_catch_all() -> None:
    http = f"""
    - {ROUTE}
    - name: late
      match: [{{uri: {{prefix: /a}}}}]
      {ROUTE}
    """
    assert rules(http) == [
        'Warning [IST0130] (VirtualService default/reviews) VirtualService rule "late" not '
        "used (route without matches defined before)."
    ]


def test_ist0130_all_matches_used_by_prior_rules() -> None:
    http = f"""
    - match: [{{uri: {{exact: /a}}}}, {{headers: {{x: {{exact: "1"}}}}}}]
      {ROUTE}
    - match: [{{name: again, headers: {{x: {{exact: "1"}}}}}}]
      {ROUTE}
    - {ROUTE}
    """
    assert rules(http) == [
        'Info [IST0131] (VirtualService default/reviews) VirtualService rule #1 match "again" '
        "is not used (duplicate/overlapping match in rule #0).",
        "Warning [IST0130] (VirtualService default/reviews) VirtualService rule #1 not used "
        "(all matches used by prior rules).",
    ]


def test_ist0131_one_repeated_match_among_others() -> None:
    http = f"""
    - match: [{{uri: {{exact: /a}}}}]
      {ROUTE}
    - match: [{{uri: {{exact: /b}}}}, {{uri: {{exact: /a}}}}]
      {ROUTE}
    """
    assert rules(http) == [
        "Info [IST0131] (VirtualService default/reviews) VirtualService rule #1 match #1 is "
        "not used (duplicate/overlapping match in rule #0)."
    ]


def test_ist0131_a_longer_prefix_after_a_shorter_one() -> None:
    http = f"""
    - match: [{{uri: {{prefix: /debug}}}}]
      {ROUTE}
    - match: [{{uri: {{prefix: /debugs}}}}]
      {ROUTE}
    """
    assert rules(http) == [
        "Info [IST0131] (VirtualService default/reviews) VirtualService rule #1 match #0 of "
        "prefix /debugs is not used (duplicate/overlapping match in rule #0 of prefix /debug "
        "on #0)."
    ]


def test_well_ordered_rules_have_no_messages() -> None:
    http = f"""
    - match: [{{uri: {{prefix: /debugs}}}}]
      {ROUTE}
    - match: [{{uri: {{prefix: /debug}}}}, {{uri: {{prefix: /a}}, method: {{exact: GET}}}}]
      {ROUTE}
    - match: [{{uri: {{prefix: /a}}, method: {{exact: POST}}}}]
      {ROUTE}
    - {ROUTE}
    """
    assert rules(http) == []


# -- IST0173 DestinationRuleSubsetNotSelectPods --------------------------------------------


def test_ist0173_a_subset_no_workload_has() -> None:
    dr = REVIEWS_DR.replace(
        "  - {name: v1, labels: {version: v1}}",
        "  - {name: v1, labels: {version: v1}}\n  - {name: v2, labels: {version: v2}}",
    )
    assert lines(REVIEWS_SVC, REVIEWS_V1_POD, dr) == [
        "Error [IST0173] (DestinationRule default/reviews) The Subset v2 defined in the "
        "DestinationRule does not select any pods. Which may lead to 503 UH (NoHealthyUpstream)."
    ]


def test_ist0173_the_services_selector_counts() -> None:
    # Istio merges the service's selector into the subset's: ratings' v2 pods are no
    # reviews v2.
    dr = REVIEWS_DR.replace("{version: v1}}", "{version: v2}}")
    assert codes(check(load(REVIEWS_SVC, REVIEWS_V1_POD, RATINGS_V2_POD, dr))) == ["IST0173"]


def test_ist0173_workload_entries_and_service_entry_endpoints_are_workloads() -> None:
    se = """
    apiVersion: networking.istio.io/v1
    kind: ServiceEntry
    metadata: {name: db}
    spec:
      hosts: [db.internal]
      resolution: STATIC
      addresses: [10.0.0.0/24]
      ports: [{number: 5432, name: tcp, protocol: TCP}]
      endpoints: [{address: 10.0.0.1, labels: {role: primary}}]
    """
    dr = """
    apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: db}
    spec:
      host: db.internal
      subsets:
      - {name: primary, labels: {role: primary}}
      - {name: replica, labels: {role: replica}}
    """
    assert [m.details for m in check(load(se, dr))] == [
        "The Subset replica defined in the DestinationRule does not select any pods. "
        "Which may lead to 503 UH (NoHealthyUpstream)."
    ]
    we = """
    apiVersion: networking.istio.io/v1
    kind: WorkloadEntry
    metadata: {name: db-replica}
    spec: {address: 10.0.0.2, labels: {role: replica}}
    """
    assert check(load(se, dr, we)) == []


def test_ist0173_only_when_the_files_describe_workloads() -> None:
    dr = REVIEWS_DR.replace("{version: v1}}", "{version: v9}}")
    assert check(load(REVIEWS_SVC, dr)) == []


# -- INM0001 -------------------------------------------------------------------------------


def test_inm0001_every_weight_zero() -> None:
    # The loader already rejects such a route (Istio: "total destination weight = 0"), so
    # `inmesh analyze` reports IST0106; check() still flags models built without validation.
    two = vs(
        """
        - route:
          - {destination: {host: reviews, subset: v1}, weight: 100}
          - {destination: {host: reviews, subset: v1}}
        """
    )
    rs = load(REVIEWS_SVC, REVIEWS_V1_POD, REVIEWS_DR, two)
    assert check(rs) == []
    v = rs[-1]
    route = v.spec.http[0]
    zero = tuple(
        HTTPRouteDestination.model_validate({"destination": d.destination, "weight": 0})
        for d in route.route
    )
    http = (route.model_copy(update={"route": zero}),)
    rs[-1] = v.model_copy(update={"spec": v.spec.model_copy(update={"http": http})})
    assert [m.format() for m in check(rs)] == [
        "Error [INM0001] (VirtualService default/reviews) VirtualService rule #0 routes "
        "nothing: every destination weight is zero."
    ]


# -- INM0002 NotSupportedYet: what the runtime would refuse, in the runtime's words ---------

UNSUPPORTED = {
    "corsPolicy": vs("""
- corsPolicy: {allowOrigins: [{exact: "https://a.example"}]}
  route: [{destination: {host: reviews, subset: v1}}]
"""),
    "CUSTOM": """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext, namespace: shop}
spec: {action: CUSTOM, provider: {name: opa}, rules: [{}]}
""",
    "consecutiveErrors": REVIEWS_DR
    + "  trafficPolicy: {outlierDetection: {consecutiveErrors: 5}}\n",
}


def test_what_the_runtime_refuses_is_an_error_in_its_own_words() -> None:
    from inmesh import ConfigError
    from inmesh._runtime_support import check_supported

    for name, doc in UNSUPPORTED.items():
        resources = load(REVIEWS_SVC, REVIEWS_V1_POD, doc)
        msgs = [m for m in check(resources) if m.code == "INM0002"]
        assert len(msgs) == 1, (name, msgs)
        assert msgs[0].level == "Error" and name in msgs[0].details
        with pytest.raises(ConfigError) as err:
            check_supported(resources)
        [problem] = err.value.problems
        field = f"{problem.field}: " if problem.field else ""
        assert msgs[0].details == field + problem.message
        assert msgs[0].resource == problem.resource


def test_supported_configuration_has_no_inm0002() -> None:
    assert "INM0002" not in codes(check(load(REVIEWS_SVC, REVIEWS_V1_POD, REVIEWS_DR, vs(TO_V1))))


def test_a_focused_check_reports_what_the_full_check_reports_for_those_resources() -> None:
    resources = load(
        REVIEWS_SVC,
        """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: a}
        spec: {hosts: [reviews], http: [{route: [{destination: {host: ratings}}]}]}
        """,
        """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: b}
        spec: {hosts: [reviews], http: [{route: [{destination: {host: reviews, subset: x}}]}]}
        """,
    )
    full = check(resources)
    for label in ("VirtualService default/a", "VirtualService default/b"):
        focused = [m for m in check(resources, focus={label}) if m.resource == label]
        assert focused == [m for m in full if m.resource == label]
        assert "IST0109" in codes(focused) and "IST0101" in codes(focused)
