"""DestinationRule analyzers (analysis/_destination_rules.py): IST0173, IST0174, IST0128,
IST0129."""

from __future__ import annotations

from inmesh.analysis import check

from .test_checks import REVIEWS_DR, REVIEWS_SVC, REVIEWS_V1_POD, load


def test_ist0174_host_of_no_service() -> None:
    dr = REVIEWS_DR.replace("host: reviews", "host: ghost")
    assert [m.format() for m in check(load(REVIEWS_SVC, dr))] == [
        "Warning [IST0174] (DestinationRule default/reviews) The host ghost defined in "
        "the DestinationRule does not match any services in the mesh."
    ]


def test_ist0173_with_no_workloads_in_a_complete_configuration() -> None:
    # A file analysis describes the whole cluster: no pods means no subset selects any;
    # a registry's partial view (complete=False) does not judge.
    msgs = check(load(REVIEWS_SVC, REVIEWS_DR), complete=True)
    assert [(m.level, m.code) for m in msgs] == [("Error", "IST0173")]
    assert check(load(REVIEWS_SVC, REVIEWS_DR)) == []
    assert check(load(REVIEWS_SVC, REVIEWS_V1_POD, REVIEWS_DR), complete=True) == []


def test_ist0128_and_ist0129_tls_without_ca_certificates() -> None:
    dr = """
    apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: api}
    spec:
      host: reviews
      trafficPolicy:
        tls: {mode: SIMPLE}
        portLevelSettings:
        - port: {number: 9080}
          tls: {mode: MUTUAL, clientCertificate: /c.pem, privateKey: /k.pem}
    """
    msgs = [m for m in check(load(REVIEWS_SVC, dr)) if m.code.startswith("IST")]
    assert [m.format() for m in msgs] == [
        "Warning [IST0128] (DestinationRule default/api) DestinationRule default/api in "
        "namespace default has TLS mode set to SIMPLE but no caCertificates are set to "
        "validate server identity for host: reviews",
        "Warning [IST0129] (DestinationRule default/api) DestinationRule default/api in "
        "namespace default has TLS mode set to MUTUAL but no caCertificates are set to "
        "validate server identity for host: reviews at port number:9080",
    ]
    verified = dr.replace("{mode: SIMPLE}", "{mode: SIMPLE, caCertificates: /ca.pem}").replace(
        "privateKey: /k.pem}", "privateKey: /k.pem, caCertificates: /ca.pem}"
    )
    assert [m for m in check(load(REVIEWS_SVC, verified)) if m.code.startswith("IST")] == []
