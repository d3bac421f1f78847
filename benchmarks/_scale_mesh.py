"""The synthetic mesh the scale benchmarks load: N services of Istio configuration.

Not a benchmark itself. Each service ``svc-<i>`` (namespace ``ns-<i % namespaces>``) is
a ServiceEntry (MESH_INTERNAL, resolution STATIC, port 8080, ``workloadSelector`` on its
``app`` label) with three WorkloadEntries (versions v1, v2, v3 on 127.0.0.x addresses), a
DestinationRule with three subsets, and a VirtualService with three header rules (one per
subset) and a weighted 80/10/10 split: the shape issue 12 measured.
"""

from __future__ import annotations

from typing import Any

import yaml

Doc = dict[str, Any]
VERSIONS = ("v1", "v2", "v3")


def host(i: int, namespaces: int = 10) -> str:
    return f"svc-{i}.ns-{i % namespaces}.svc.cluster.local"


def service_docs(i: int, namespaces: int = 10) -> list[Doc]:
    """The five-to-six resources of service ``i``."""
    name, ns, fqdn = f"svc-{i}", f"ns-{i % namespaces}", host(i, namespaces)
    docs: list[Doc] = [
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "ServiceEntry",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "hosts": [fqdn],
                "location": "MESH_INTERNAL",
                "resolution": "STATIC",
                "ports": [{"number": 8080, "name": "http", "protocol": "HTTP"}],
                "workloadSelector": {"labels": {"app": name}},
            },
        }
    ]
    for k, version in enumerate(VERSIONS):
        docs.append(
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "WorkloadEntry",
                "metadata": {"name": f"{name}-{version}", "namespace": ns},
                "spec": {
                    "address": f"127.{(i >> 8) & 255}.{i & 255}.{k + 1}",
                    "labels": {"app": name, "version": version},
                },
            }
        )
    docs.append(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "host": fqdn,
                "subsets": [{"name": v, "labels": {"version": v}} for v in VERSIONS],
            },
        }
    )
    docs.append(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "hosts": [fqdn],
                "http": [
                    *(
                        {
                            "match": [{"headers": {"x-version": {"exact": v}}}],
                            "route": [{"destination": {"host": fqdn, "subset": v}}],
                        }
                        for v in VERSIONS
                    ),
                    {
                        "route": [
                            {"destination": {"host": fqdn, "subset": "v1"}, "weight": 80},
                            {"destination": {"host": fqdn, "subset": "v2"}, "weight": 10},
                            {"destination": {"host": fqdn, "subset": "v3"}, "weight": 10},
                        ]
                    },
                ],
            },
        }
    )
    return docs


def mesh_docs(n: int, namespaces: int = 10) -> list[Doc]:
    """Every resource of an N-service mesh."""
    return [d for i in range(n) for d in service_docs(i, namespaces)]


def mesh_yaml(n: int, namespaces: int = 10) -> str:
    """The N-service mesh as one multi-document YAML file."""
    return yaml.safe_dump_all(mesh_docs(n, namespaces), sort_keys=False)
