"""``analyze_files``: schema problems as IST0106 located to file, document, resource and
field; cross-references over every file given; Istio's own Bookinfo configuration."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from inmesh.analysis import Message, analyze_files

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "conformance" / "istio-bookinfo"


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return p


SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: reviews}
spec:
  ports: [{name: http, port: 9080}]
"""
TYPO = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
      weigth: 10
"""


def test_schema_error_is_ist0106_naming_file_document_resource_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "mesh.yaml", SERVICE + "---\n" + textwrap.dedent(TYPO))
    (msg,) = analyze_files([path])
    assert (msg.level, msg.code, msg.name) == ("Error", "IST0106", "SchemaValidationError")
    assert msg.resource == "VirtualService shop/reviews"
    assert msg.details.startswith(
        "Schema validation error: spec.http[0].route[0].weigth: unknown field 'weigth'"
    )
    assert "did you mean 'weight'?" in msg.details
    assert msg.file == f"{path} document 2"
    assert msg.format() == (
        f"Error [IST0106] (VirtualService shop/reviews) {msg.details} [{path} document 2]"
    )


def test_every_problem_of_every_file_is_reported(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", TYPO)
    b = write(
        tmp_path,
        "b.yaml",
        """
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: reviews}
        spec:
          host: reviews
          subsets:
          - {name: v1, labels: {version: v1}}
          - {name: v1, labels: {version: v2}}
        """,
    )
    msgs = analyze_files([a, b])
    # Sorted as istioctl sorts: level, code, then kind/name/namespace.
    assert [m.code for m in msgs] == ["IST0106", "IST0106"]
    assert msgs[0].file == f"{b} document 1"
    assert msgs[0].resource == "DestinationRule default/reviews"
    assert "duplicate subset" in msgs[0].details
    assert msgs[1].file == f"{a} document 1"


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yaml", "kind: VirtualService\nspec: [1\n")
    (msg,) = analyze_files([path])
    assert msg.code == "IST0106" and msg.level == "Error"
    assert "line" in msg.details and "YAML" in msg.details
    assert msg.file is not None and str(path) in msg.file


def test_cross_references_span_files_and_skip_what_did_not_load(tmp_path: Path) -> None:
    svc = write(tmp_path, "svc.yaml", SERVICE)
    route = write(
        tmp_path,
        "vs.yaml",
        """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: reviews}
        spec:
          hosts: [reviews]
          http:
          - route: [{destination: {host: reviews, subset: v1}}]
        """,
    )
    msgs = analyze_files([svc, route])
    assert [m.format() for m in msgs] == [
        "Error [IST0101] (VirtualService default/reviews) Referenced host+subset in "
        'destinationrule not found: "reviews+v1"'
    ]
    assert analyze_files([svc]) == []


# -- Istio's Bookinfo -------------------------------------------------------------------------

ROUTING_FILES = [
    "virtual-service-all-v1.yaml",
    "virtual-service-details-v2.yaml",
    "virtual-service-ratings-db.yaml",
    "virtual-service-ratings-mysql-vm.yaml",
    "virtual-service-ratings-mysql.yaml",
    "virtual-service-ratings-test-abort.yaml",
    "virtual-service-ratings-test-delay.yaml",
    "virtual-service-reviews-50-v3.yaml",
    "virtual-service-reviews-80-20.yaml",
    "virtual-service-reviews-90-10.yaml",
    "virtual-service-reviews-jason-v2-v3.yaml",
    "virtual-service-reviews-test-v2.yaml",
    "virtual-service-reviews-v2-v3.yaml",
    "virtual-service-reviews-v3.yaml",
    "fault-injection-details-v1.yaml",
]

# The subsets of destination-rule-all.yaml that no Deployment of platform-kube-bookinfo.yaml
# backs (ratings v2 and its MySQL variants, details v2): Istio's analyzer reports them as
# Errors (IST0173 DestinationRuleSubsetNotSelectPods) just the same.
_NO_PODS = "defined in the DestinationRule does not select any pods. Which may lead to 503 UH "
UNBACKED_SUBSETS = {
    f"Error [IST0173] (DestinationRule default/ratings) The Subset v2 {_NO_PODS}"
    "(NoHealthyUpstream).",
    f"Error [IST0173] (DestinationRule default/ratings) The Subset v2-mysql {_NO_PODS}"
    "(NoHealthyUpstream).",
    f"Error [IST0173] (DestinationRule default/ratings) The Subset v2-mysql-vm {_NO_PODS}"
    "(NoHealthyUpstream).",
    f"Error [IST0173] (DestinationRule default/details) The Subset v2 {_NO_PODS}"
    "(NoHealthyUpstream).",
}
#: IST0140: the ingress VirtualService routes to productpage without a subset while
#: virtual-service-all-v1.yaml splits productpage by subset (istioctl warns the same).
INGRESS_SUBSET = (
    "Warning [IST0140] (VirtualService default/bookinfo) Subset in virtual service "
    "default/productpage has no effect on ingress gateway default/bookinfo requests"
)


def _corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"the Bookinfo conformance corpus is not at {CORPUS}")
    return CORPUS


def _formatted(msgs: list[Message]) -> set[str]:
    return {m.format() for m in msgs}


@pytest.mark.parametrize("routing", ROUTING_FILES)
def test_each_bookinfo_step_has_no_errors(routing: str) -> None:
    """Each step of Istio's traffic-management tasks as the docs apply it: the platform,
    destination-rule-all.yaml, the ingress gateway, then one routing file. No Error but the
    unbacked subsets; the messages are the ones istioctl gives for the same files."""
    corpus = _corpus()
    files = ["platform-kube-bookinfo.yaml", "destination-rule-all.yaml", "bookinfo-gateway.yaml"]
    msgs = analyze_files([corpus / f for f in [*files, routing]])
    expected = set(UNBACKED_SUBSETS)
    if routing == "fault-injection-details-v1.yaml":
        # Its DestinationRule "details" (v1 only) replaces destination-rule-all's, and its
        # VirtualService has two rules without a match: istioctl warns about the second.
        expected.discard(next(m for m in expected if "default/details" in m))
        expected.add(
            "Warning [IST0130] (VirtualService default/details) VirtualService rule #1 not "
            "used (only the last rule can have no matches)."
        )
    if routing == "virtual-service-all-v1.yaml":
        expected.add(INGRESS_SUBSET)
    assert _formatted(msgs) == expected
    assert {m.code for m in msgs if m.level == "Error"} <= {"IST0173"}


def test_the_whole_bookinfo_directory_as_one_configuration() -> None:
    """All 22 files at once, in name order, as ``istioctl analyze <dir>`` reads them: later
    resources replace earlier ones of the same kind, namespace and name (the alternative
    routing files of one service are one resource), so no IST0109. Istio reports two real
    Errors here (``istioctl analyze --all-namespaces``; without that flag istioctl shows
    namespace default only and hides the first), and so does inmesh:

    * cert-manager-resolver is the Service cert-manager creates at run time for an ACME
      challenge; certmanager-gateway.yaml routes to it but the corpus does not define it;
    * fault-injection-details-v1.yaml's DestinationRule "details" (subset v1 only) replaces
      destination-rule-all.yaml's, while the last VirtualService "details"
      (virtual-service-details-v2.yaml) routes to subset v2.
    """
    msgs = analyze_files([_corpus()])
    errors = {m.format() for m in msgs if m.level == "Error" and m.code != "IST0173"}
    assert errors == {
        "Error [IST0101] (VirtualService istio-system/cert-manager) Referenced host not found: "
        '"cert-manager-resolver"',
        "Error [IST0101] (VirtualService default/details) Referenced host+subset in "
        'destinationrule not found: "details+v2"',
    }
    # ... besides the ratings subsets no Deployment backs (IST0173, an Error in Istio).
    assert {m.format() for m in msgs if m.code == "IST0173"} == {
        m for m in UNBACKED_SUBSETS if "default/ratings" in m
    }
    # egress-rule-google-apis.yaml originates TLS without caCertificates (IST0129), and the
    # ingress route to productpage ignores productpage's subsets (IST0140): warnings istioctl
    # gives for the same files.
    assert {m.code for m in msgs if m.level != "Error"} == {"IST0129", "IST0140"}


def test_kinds_the_mesh_does_not_use_are_listed_as_info(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "app.yaml",
        """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: settings, namespace: shop}
        ---
        apiVersion: networking.istio.io/v1
        kind: EnvoyFilter
        metadata: {name: default, namespace: shop}
        spec: {}
        """,
    )
    msgs = analyze_files([path])
    # The invalid document does not hide the rest: the ConfigMap is still reported.
    assert [(m.level, m.code) for m in msgs] == [("Error", "INM0002"), ("Info", "INM0003")]
    assert "EnvoyFilter is not supported yet" in msgs[0].details
    ok = write(tmp_path, "ok.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: s}\n")
    [info] = analyze_files([ok])
    assert info.format() == (
        "Info [INM0003] (ConfigMap default/s) skipped: ConfigMap (v1) is a Kubernetes "
        f"kind the mesh does not use [{ok} document 1]"
    )
