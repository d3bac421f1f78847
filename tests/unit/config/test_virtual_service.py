"""VirtualService: schema and Istio's validation rules, from real YAML."""

from __future__ import annotations

from pathlib import Path

import pytest

from inmesh.config import VirtualService

from ._helpers import assert_problem, load, problems

HEAD = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: prod
"""
VS = "VirtualService prod/reviews"


def http(route_yaml: str) -> str:
    """A VirtualService for host ``reviews`` whose only http route is ``route_yaml``."""
    body = "\n".join("  " + line for line in route_yaml.strip("\n").splitlines())
    return HEAD + "spec:\n  hosts: [reviews]\n  http:\n" + body + "\n"


def test_valid_route_is_loaded_with_snake_case_attributes(tmp_path: Path) -> None:
    [vs] = load(
        tmp_path,
        http("""
    - name: jason
      match:
      - headers:
          end-user: {exact: jason}
        uri: {prefix: /reviews}
        ignoreUriCase: true
      route:
      - destination: {host: reviews, subset: v2, port: {number: 9080}}
        weight: 90
      - destination: {host: reviews, subset: v3}
        weight: 10
      timeout: 2.5s
      retries: {attempts: 3, perTryTimeout: 1s, retryOn: "5xx,reset,503"}
    """),
    )
    assert isinstance(vs, VirtualService)
    assert (vs.kind, vs.api_version, vs.name, vs.namespace) == (
        "VirtualService",
        "networking.istio.io/v1",
        "reviews",
        "prod",
    )
    route = vs.spec.http[0]
    match = route.match[0]
    assert match.headers["end-user"].exact == "jason"
    assert match.uri is not None and match.uri.prefix == "/reviews"
    assert match.ignore_uri_case is True
    assert [d.weight for d in route.route] == [90, 10]
    assert route.route[0].destination.port is not None
    assert route.route[0].destination.port.number == 9080
    assert route.timeout == 2.5
    assert route.retries is not None and route.retries.retry_on == "5xx,reset,503"
    assert vs.spec.applies_to_mesh


@pytest.mark.parametrize("version", ["v1", "v1beta1", "v1alpha3"])
def test_all_served_api_versions(tmp_path: Path, version: str) -> None:
    [vs] = load(
        tmp_path,
        http("- route: [{destination: {host: reviews}}]").replace(
            "networking.istio.io/v1", f"networking.istio.io/{version}"
        ),
    )
    assert vs.api_version == f"networking.istio.io/{version}"


def test_unknown_field_suggests_the_istio_name(tmp_path: Path) -> None:
    p = assert_problem(
        tmp_path,
        http("""
    - match: [{uri: {exact: /}, ignoreURICase: true}]
      route: [{destination: {host: reviews}}]
    """),
        field="spec.http[0].match[0].ignoreURICase",
        says="unknown field",
        resource=VS,
    )
    assert "did you mean 'ignoreUriCase'" in p.message


def test_wrong_type(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        http("""
    - route: [{destination: {host: reviews}, weight: "90"}]
    """),
        field="spec.http[0].route[0].weight",
        says="expected an integer",
        resource=VS,
    )


def test_weights_are_non_negative(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        http("""
    - route:
      - {destination: {host: reviews, subset: v1}, weight: 90}
      - {destination: {host: reviews, subset: v2}, weight: -10}
    """),
        field="spec.http[0].route[1].weight",
        says="greater than or equal to 0",
        resource=VS,
    )


def test_total_weight_of_several_destinations_cannot_be_zero(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        http("""
    - route:
      - {destination: {host: reviews, subset: v1}}
      - {destination: {host: reviews, subset: v2}}
    """),
        field="spec.http[0].route",
        says="total destination weight = 0",
        resource=VS,
    )


def test_destination_needs_a_host(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        http("""
    - route:
      - {destination: {host: reviews, subset: v1}, weight: 50}
      - {destination: {subset: v2}, weight: 50}
    """),
        field="spec.http[0].route[1].destination.host",
        says="required",
        resource=VS,
    )


def test_destination_host_and_subset_names(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        http("""
    - route: [{destination: {host: "*", subset: "v 1"}}]
    """),
    )
    fields = {p.field for p in found}
    assert {
        "spec.http[0].route[0].destination.host",
        "spec.http[0].route[0].destination.subset",
    } <= fields


def test_string_match_allows_only_one_kind(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        http("""
    - match: [{uri: {exact: /a, prefix: /b}}]
      route: [{destination: {host: reviews}}]
    """),
        field="spec.http[0].match[0].uri",
        says="only one of exact, prefix or regex",
    )


def test_empty_header_match_means_present(tmp_path: Path) -> None:
    [vs] = load(
        tmp_path,
        http("""
    - match: [{headers: {x-canary: {}}}]
      route: [{destination: {host: reviews}}]
    """),
    )
    sm = vs.spec.http[0].match[0].headers["x-canary"]
    assert (sm.exact, sm.prefix, sm.regex) == (None, None, None) and sm.matches("anything")


def test_regex_must_be_re2(tmp_path: Path) -> None:
    p = assert_problem(
        tmp_path,
        http("""
    - match: [{headers: {end-user: {regex: "(a)\\\\1"}}}]
      route: [{destination: {host: reviews}}]
    """),
        field='spec.http[0].match[0].headers["end-user"].regex',
        says="backreference",
    )
    assert "RE2" in p.message


def test_regex_is_compiled_for_full_matching(tmp_path: Path) -> None:
    [vs] = load(
        tmp_path,
        http("""
    - match: [{uri: {regex: "/reviews/[0-9]+"}}]
      route: [{destination: {host: reviews}}]
    """),
    )
    uri = vs.spec.http[0].match[0].uri
    assert uri is not None and uri.pattern is not None
    assert uri.pattern.fullmatch("/reviews/12") and not uri.pattern.fullmatch("/reviews/12/x")


def test_header_names_must_be_valid(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        http("""
    - match: [{headers: {"end user": {exact: jason}}}]
      route: [{destination: {host: reviews}}]
    """),
        field='spec.http[0].match[0].headers["end user"]',
        says="not a valid header name",
    )


def test_match_port_range(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        http("""
    - match: [{port: 70000}]
      route: [{destination: {host: reviews}}]
    """),
        field="spec.http[0].match[0].port",
        says="less than or equal to 65535",
    )


def test_route_and_redirect_are_exclusive(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        http("""
    - route: [{destination: {host: reviews}}]
      redirect: {uri: /v2/reviews}
    """),
        field="spec.http[0].redirect",
        says="cannot contain both route and redirect",
    )


def test_redirect_and_direct_response_are_exclusive(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        http("""
    - redirect: {uri: /x}
      directResponse: {status: 503}
    """),
        field="spec.http[0].directResponse",
        says="both redirect and directResponse",
    )


def test_a_route_needs_an_action(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        http("""
    - match: [{uri: {prefix: /}}]
    """),
        field="spec.http[0].route",
        says="HTTP route, redirect or directResponse is required",
    )


def test_fault_and_rewrite_cannot_go_with_redirect(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        http("""
    - redirect: {uri: /x}
      rewrite: {uri: /y}
      fault: {abort: {httpStatus: 500}}
    """),
    )
    assert {"spec.http[0].rewrite", "spec.http[0].fault"} <= {p.field for p in found}


def test_redirect_rules(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        http("""
    - redirect: {uri: /x, redirectCode: 200, scheme: ftp, port: 8080, derivePort: FROM_REQUEST_PORT}
    """),
    )
    messages = {p.field: p.message for p in found}
    assert "must be 3xx" in messages["spec.http[0].redirect.redirectCode"]
    assert "http" in messages["spec.http[0].redirect.scheme"]
    assert "port or derivePort" in messages["spec.http[0].redirect.derivePort"]


def test_rewrite_rules(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        http("""
    - rewrite: {uri: /a, uriRegexRewrite: {match: "^/x", rewrite: /y}}
      route: [{destination: {host: reviews}}]
    """),
        field="spec.http[0].rewrite",
        says="only contain one of uri or uriRegexRewrite",
    )
    assert_problem(
        tmp_path,
        http("""
    - rewrite: {uriRegexRewrite: {match: "^/x(.*)"}}
      route: [{destination: {host: reviews}}]
    """),
        field="spec.http[0].rewrite.uriRegexRewrite",
        says="requires both rewrite and match",
    )


def test_fault_rules(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        http("""
    - fault: {}
      route: [{destination: {host: reviews}}]
    """),
        field="spec.http[0].fault",
        says="must have an abort and/or a delay",
    )
    found = problems(
        tmp_path,
        http("""
    - fault:
        abort: {httpStatus: 700, percentage: {value: 150}}
        delay: {exponentialDelay: 1s}
      route: [{destination: {host: reviews}}]
    """),
    )
    messages = {p.field: p.message for p in found}
    assert "not in range 200-599" in messages["spec.http[0].fault.abort.httpStatus"]
    assert "[0.0001, 100.0]" in messages["spec.http[0].fault.abort.percentage.value"]
    # exponentialDelay is valid Istio configuration that the runtime refuses: the support
    # table says so (test_support.py), not the schema
    assert "spec.http[0].fault.delay.exponentialDelay" not in messages


def test_fault_abort_error_types(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        http("""
    - fault: {abort: {grpcStatus: NOPE, http2Error: x}}
      route: [{destination: {host: reviews}}]
    """),
    )
    fields = {p.field for p in found}
    assert {
        "spec.http[0].fault.abort",
        "spec.http[0].fault.abort.grpcStatus",
    } <= fields


def test_fault_values_are_read(tmp_path: Path) -> None:
    [vs] = load(
        tmp_path,
        http("""
    - fault:
        delay: {fixedDelay: 7s, percentage: {value: 100.0}}
        abort: {httpStatus: 555, percentage: {value: 10}}
      route: [{destination: {host: reviews}}]
    """),
    )
    fault = vs.spec.http[0].fault
    assert fault is not None and fault.delay is not None and fault.abort is not None
    assert fault.delay.fixed_delay == 7.0
    assert fault.abort.http_status == 555
    assert fault.abort.percentage is not None and fault.abort.percentage.value == 10.0


def test_retry_rules(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        http("""
    - retries: {retryOn: 5xx}
      route: [{destination: {host: reviews}}]
    """),
        field="spec.http[0].retries.attempts",
        says="attempts are set to 0",
    )
    assert_problem(
        tmp_path,
        http("""
    - retries: {attempts: 2, retryOn: "5xx,sometimes"}
      route: [{destination: {host: reviews}}]
    """),
        field="spec.http[0].retries.retryOn",
        says="'sometimes' is not a valid retryOn policy",
    )


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("10", "a string"),
        ('"10 seconds"', "invalid duration"),
        ('"-1s"', "negative duration"),
        ("0s", "greater than 1ms"),
        ("1500us", "ms precision"),
    ],
)
def test_timeout_must_be_an_istio_duration(tmp_path: Path, value: str, says: str) -> None:
    assert_problem(
        tmp_path,
        http(f"""
    - route: [{{destination: {{host: reviews}}}}]
      timeout: {value}
    """),
        field="spec.http[0].timeout",
        says=says,
        resource=VS,
    )


def test_mirror_rules(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        http("""
    - route: [{destination: {host: reviews}}]
      mirror: {host: reviews-shadow}
      mirrorPercentage: {value: 101}
    """),
        field="spec.http[0].mirrorPercentage.value",
        says="[0, 100]",
    )
    assert_problem(
        tmp_path,
        http("""
    - route: [{destination: {host: reviews}}]
      mirror: {host: a}
      mirrors: [{destination: {host: b}}]
    """),
        field="spec.http[0].mirrors",
        says="only one of mirror or mirrors",
    )


def test_legacy_mirror_percent_spellings(tmp_path: Path) -> None:
    [vs] = load(
        tmp_path,
        http("""
    - route: [{destination: {host: reviews}}]
      mirror: {host: shadow}
      mirror_percent: 20
    """),
    )
    assert vs.spec.http[0].mirror_percent == 20


def test_authority_can_be_rewritten_only_once(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        http("""
    - route: [{destination: {host: reviews}}]
      rewrite: {authority: a.example.com}
      headers: {request: {set: {host: b.example.com}}}
    """),
        field="spec.http[0].headers",
        says="authority header cannot be set multiple times",
    )


def test_header_operation_names(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        http("""
    - route: [{destination: {host: reviews}}]
      headers: {response: {set: {":status": "200"}}}
    """),
        field='spec.http[0].headers.response.set[":status"]',
        says="':' prefix",
    )


def test_header_values_use_envoy_variable_syntax(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        http("""
    - route:
      - destination: {host: reviews}
        headers: {request: {add: {x-ratio: "50%"}}}
    """),
        field='spec.http[0].route[0].headers.request.add["x-ratio"]',
        says="%%",
    )


def test_wildcard_host_needs_a_gateway(tmp_path: Path) -> None:
    text = HEAD + "spec:\n  hosts: ['*']\n  http:\n  - route: [{destination: {host: a}}]\n"
    assert_problem(
        tmp_path,
        text,
        field="spec.hosts[0]",
        says="not allowed for virtual services bound to the mesh gateway",
    )
    [vs] = load(tmp_path, text.replace("spec:\n", "spec:\n  gateways: [ingress]\n"))
    assert not vs.spec.applies_to_mesh


def test_duplicate_and_invalid_hosts(tmp_path: Path) -> None:
    text = HEAD + (
        "spec:\n  hosts: [a.example.com, '*.example.com', 'bad_host!']\n"
        "  http:\n  - route: [{destination: {host: a}}]\n"
    )
    found = problems(tmp_path, text)
    assert "spec.hosts[2]" in {p.field for p in found}
    text = HEAD + (
        "spec:\n  hosts: [a.example.com, '*.example.com']\n"
        "  http:\n  - route: [{destination: {host: a}}]\n"
    )
    assert_problem(tmp_path, text, field="spec.hosts[1]", says="duplicate hosts")


def test_gateway_names(tmp_path: Path) -> None:
    text = HEAD + (
        "spec:\n  hosts: [reviews]\n  gateways: [mesh, 'ns/', 'Bad_Name']\n"
        "  http:\n  - route: [{destination: {host: a}}]\n"
    )
    fields = {p.field for p in problems(tmp_path, text)}
    assert {"spec.gateways[1]", "spec.gateways[2]"} <= fields


def test_some_routes_are_required(tmp_path: Path) -> None:
    found = problems(tmp_path, HEAD + "spec:\n  hosts: [reviews]\n")
    assert [p.message for p in found] == ["http, tcp or tls must be provided in virtual service"]
    assert found[0].field == "spec"


def test_delegate_rules(tmp_path: Path) -> None:
    root = http("""
    - delegate: {name: reviews-delegate}
      route: [{destination: {host: reviews}}]
    """)
    assert_problem(tmp_path, root, field="spec.http[0].route", says="root HTTP route must not")
    delegate = (
        HEAD
        + """spec:
  http:
  - match: [{uri: {regex: "/a.*"}}]
    route: [{destination: {host: reviews}}]
  tcp:
  - route: [{destination: {host: reviews}}]
"""
    )
    fields = {p.field for p in problems(tmp_path, delegate)}
    assert {"spec.tcp", "spec.http[0].match[0].uri"} <= fields


def test_tls_routes(tmp_path: Path) -> None:
    text = (
        HEAD
        + """spec:
  hosts: [reviews.example.com]
  tls:
  - match: [{sniHosts: [other.example.com]}]
    route: [{destination: {host: reviews}}]
"""
    )
    assert_problem(
        tmp_path, text, field="spec.tls[0].match[0].sniHosts[0]", says="not a compatible subset"
    )
    found = {
        p.field: p.message
        for p in problems(
            tmp_path,
            text.replace(
                "  - match: [{sniHosts: [other.example.com]}]\n"
                "    route: [{destination: {host: reviews}}]",
                "  - match: []",
            ),
        )
    }
    assert "at least one match" in found["spec.tls[0].match"]
    assert "TLS route is required" in found["spec.tls[0].route"]


def test_export_to(tmp_path: Path) -> None:
    text = http("- route: [{destination: {host: a}}]").replace(
        "spec:\n", "spec:\n  exportTo: ['*', 'Not A Namespace']\n"
    )
    fields = {p.field for p in problems(tmp_path, text)}
    assert "spec.exportTo[1]" in fields


def test_jwt_claim_routing_is_gateway_only(tmp_path: Path) -> None:
    assert_problem(
        tmp_path,
        http("""
    - match: [{headers: {"@request.auth.claims.group": {exact: admin}}}]
      route: [{destination: {host: reviews}}]
    """),
        field='spec.http[0].match[0].headers["@request.auth.claims.group"]',
        says="only supported for gateway",
    )


def test_metadata_rules(tmp_path: Path) -> None:
    route = "spec:\n  hosts: [r]\n  http:\n  - route: [{destination: {host: r}}]\n"
    text = (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n"
        "  name: Reviews_1\n  namespace: Prod\n  labels: {'app': 'x y'}\n" + route
    )
    fields = {p.field for p in problems(tmp_path, text)}
    assert {"metadata.name", "metadata.namespace", "metadata.labels.app"} <= fields
    text = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {}\n" + route
    assert_problem(tmp_path, text, field="metadata.name", says="required")


def test_kubernetes_metadata_is_tolerated(tmp_path: Path) -> None:
    [vs] = load(
        tmp_path,
        http("- route: [{destination: {host: reviews}}]").replace(
            "  namespace: prod\n",
            "  namespace: prod\n  uid: 1f0c\n  resourceVersion: '42'\n  generation: 3\n"
            "  creationTimestamp: 2024-05-01T10:00:00Z\n  annotations: {note: hi}\n",
        )
        + "status: {validationMessages: []}\n",
    )
    assert vs.metadata.generation == 3
    assert vs.metadata.annotations == {"note": "hi"}
    assert vs.status == {"validationMessages": []}


def test_namespace_defaults(tmp_path: Path) -> None:
    [vs] = load(
        tmp_path,
        http("- route: [{destination: {host: reviews}}]").replace("  namespace: prod\n", ""),
    )
    assert vs.metadata.namespace is None
    assert vs.namespace == "default"
