"""Gateway analyzers (analysis/_gateways.py): IST0138, IST0145."""

from __future__ import annotations

from inmesh.analysis import check

from .test_checks import load


def gateway(name: str, host: str, *, tls: str = "", port: int = 443) -> str:
    tls_part = f", tls: {tls}" if tls else ""
    protocol = "HTTPS" if tls else "HTTP"
    return f"""
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {{name: {name}}}
    spec:
      selector: {{istio: ingressgateway}}
      servers:
      - {{port: {{number: {port}, name: p, protocol: {protocol}}}, hosts: [{host}]{tls_part}}}
    """


CERT = "{mode: SIMPLE, credentialName: shop-cert}"


def test_ist0138_same_certificate_on_two_gateways() -> None:
    msgs = check(
        load(gateway("a", "a.example.com", tls=CERT), gateway("b", "b.example.com", tls=CERT))
    )
    assert [m.format() for m in msgs] == [
        "Warning [IST0138] (Gateway default/a) Duplicate certificate in multiple gateways "
        "[default/a default/b] may cause 404s if clients re-use HTTP2 connections.",
        "Warning [IST0138] (Gateway default/b) Duplicate certificate in multiple gateways "
        "[default/b default/a] may cause 404s if clients re-use HTTP2 connections.",
    ]
    other = CERT.replace("shop-cert", "other-cert")
    assert (
        check(
            load(gateway("a", "a.example.com", tls=CERT), gateway("b", "b.example.com", tls=other))
        )
        == []
    )


def test_ist0145_same_selector_port_and_host() -> None:
    msgs = check(
        load(gateway("a", "shop.example.com", port=80), gateway("b", "shop.example.com", port=80))
    )
    assert [m.format() for m in msgs] == [
        "Error [IST0145] (Gateway default/a) Conflict with gateways default/b (workload "
        "selector istio=ingressgateway, port 80, hosts shop.example.com).",
        "Error [IST0145] (Gateway default/b) Conflict with gateways default/a (workload "
        "selector istio=ingressgateway, port 80, hosts shop.example.com).",
    ]
    assert (
        check(
            load(
                gateway("a", "shop.example.com", port=80), gateway("b", "www.example.com", port=80)
            )
        )
        == []
    )
