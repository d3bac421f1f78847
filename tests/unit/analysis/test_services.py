"""Service and ServiceEntry analyzers (analysis/_services.py): IST0118, IST0150, IST0134,
IST0177."""

from __future__ import annotations

import pytest

from inmesh.analysis import check

from .test_checks import load


def service(ports: str, *, type_: str = "ClusterIP", labels: str = "{}") -> str:
    return f"""
    apiVersion: v1
    kind: Service
    metadata: {{name: api, labels: {labels}}}
    spec: {{type: {type_}, ports: {ports}}}
    """


@pytest.mark.parametrize(
    "ports",
    [
        "[{name: http, port: 80}]",
        "[{name: grpc-web-x, port: 80}]",
        "[{name: tcp-db, port: 5432}]",
        "[{name: web, port: 80, appProtocol: http}]",
        "[{name: dns, port: 53}]",  # a well-known port
        "[{name: x, port: 80, protocol: UDP}]",
    ],
)
def test_port_names_istio_understands(ports: str) -> None:
    assert check(load(service(ports))) == []


def test_ist0118_port_name_outside_the_convention() -> None:
    msgs = check(load(service("[{name: web, port: 8080, targetPort: 9090}]")))
    assert [m.format() for m in msgs] == [
        "Info [IST0118] (Service default/api) Port name web (port: 8080, targetPort: 9090) "
        "doesn't follow the naming convention of Istio port."
    ]
    # The control plane's Services are not judged.
    assert check(load(service("[{name: web, port: 8080}]", labels="{istio: pilot}"))) == []


def test_ist0150_external_name_service() -> None:
    msgs = check(load(service("[{name: tcp, port: 80}]", type_="ExternalName")))
    assert [(m.level, m.code) for m in msgs] == [("Warning", "IST0150")]


def entry(name: str, protocol: str, *, addresses: str = "[240.0.0.1]") -> str:
    return f"""
    apiVersion: networking.istio.io/v1
    kind: ServiceEntry
    metadata: {{name: {name}}}
    spec:
      hosts: [db.example.com]
      addresses: {addresses}
      location: MESH_EXTERNAL
      resolution: DNS
      ports: [{{number: 5432, name: db, protocol: {protocol}}}]
    """


def test_ist0134_tcp_service_entry_without_addresses() -> None:
    msgs = check(load(entry("db", "TCP", addresses="[]")))
    assert [m.format() for m in msgs] == [
        "Warning [IST0134] (ServiceEntry default/db) ServiceEntry addresses are required for "
        "this protocol."
    ]
    assert check(load(entry("db", "TCP"))) == []
    assert check(load(entry("db", "HTTP", addresses="[]"))) == []


def test_ist0177_conflicting_protocols() -> None:
    msgs = check(load(entry("a", "TCP"), entry("b", "HTTP")))
    assert [(m.code, m.resource) for m in msgs] == [
        ("IST0177", "ServiceEntry default/a"),
        ("IST0177", "ServiceEntry default/b"),
    ]
    assert msgs[0].details == (
        'Multiple ServiceEntries (default/a, default/b) define the same host "db.example.com" '
        "and port 5432 with conflicting protocols (HTTP, TCP)."
    )
    assert check(load(entry("a", "TCP"), entry("b", "tcp"))) == []
