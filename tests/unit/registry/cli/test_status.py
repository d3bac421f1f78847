"""``inmesh status`` tables from documents."""

from __future__ import annotations

from typing import Any

from inmesh.registry.cli._status import format_age, render_ca, render_status, status_rows


def workload(name: str, version: str, address: str = "10.0.0.1") -> dict[str, Any]:
    return {
        "kind": "WorkloadEntry",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "address": address,
            "ports": {"http": 9080},
            "labels": {"app": "reviews", "version": version},
        },
    }


def test_services_versions_and_endpoint_health() -> None:
    se = {
        "kind": "ServiceEntry",
        "metadata": {"name": "reviews", "namespace": "default"},
        "spec": {
            "hosts": ["reviews.default.svc.cluster.local"],
            "ports": [{"number": 9080, "protocol": "HTTP"}],
            "workloadSelector": {"labels": {"app": "reviews"}},
        },
    }
    live = workload("reviews-v2-ab", "v2", "10.0.0.2")
    registration = {
        "namespace": "default",
        "name": "reviews-v2-ab",
        "ttl": 10,
        "lastHeartbeat": 1.2,
        "age": 300,
        "workload": live,
    }
    services, endpoints = status_rows([se, workload("reviews-v1", "v1"), live], [registration])
    assert [(s.host, s.versions, s.endpoints) for s in services] == [
        ("reviews.default.svc.cluster.local", "v1,v2", 2)
    ]
    assert [(e.name, e.service, e.health.split()[0], e.age) for e in endpoints] == [
        ("reviews-v1", "reviews", "static", "-"),
        ("reviews-v2-ab", "reviews", "live", "5m"),
    ]
    text = render_status(services, endpoints)
    assert "SERVICE" in text and "10.0.0.2:9080" in text


def test_empty_and_ages() -> None:
    assert render_status([], []) == "No services.\n\nNo endpoints."
    assert [format_age(s) for s in (5, 150, 4 * 3600, 3 * 86400)] == ["5s", "2m", "4h", "3d"]


def test_render_ca() -> None:
    ca = {
        "trustDomain": "example.org",
        "roots": [
            {"fingerprint": "SHA256:AA", "subject": "O=old", "notAfter": "2030-01-01T00:00:00Z"},
            {"fingerprint": "SHA256:BB", "subject": "O=new", "notAfter": "2036-01-01T00:00:00Z"},
        ],
        "signingCert": {
            "subject": "CN=Intermediate",
            "source": "plug-in /etc/ca",
            "notAfter": "2027-01-01T00:00:00Z",
        },
    }
    assert render_ca(ca).splitlines() == [
        "CA: trust domain example.org, signing certificate CN=Intermediate (plug-in /etc/ca), "
        "expires 2027-01-01T00:00:00Z",
        "ROOT FINGERPRINT   SUBJECT   EXPIRES",
        "SHA256:AA          O=old     2030-01-01T00:00:00Z",
        "SHA256:BB          O=new     2036-01-01T00:00:00Z",
    ]
    assert render_ca(None) == "CA: none (this registry issues no certificates)"
