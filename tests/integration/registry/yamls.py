"""Configuration used across the registry's integration tests."""

from __future__ import annotations


def service_entry(name: str = "reviews", namespace: str = "default") -> str:
    return f"""apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  hosts: [{name}.{namespace}.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 9080, name: http, protocol: HTTP}}]
  workloadSelector: {{labels: {{app: {name}}}}}
"""


def virtual_service(
    name: str = "reviews",
    weight: int = 90,
    namespace: str = "default",
    resource_version: str | None = None,
) -> str:
    rv = f", resourceVersion: '{resource_version}'" if resource_version else ""
    return f"""apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {namespace}{rv}}}
spec:
  hosts: [{name}]
  http:
  - route:
    - destination: {{host: {name}, subset: v1}}
      weight: {weight}
    - destination: {{host: {name}, subset: v2}}
      weight: {100 - weight}
"""


def destination_rule(name: str = "reviews", namespace: str = "default") -> str:
    return f"""apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  host: {name}
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
"""


def service_account(namespace: str) -> str:
    """A kind the registry shows only in its own namespace (as AuthorizationPolicy was)."""
    return f"""apiVersion: v1
kind: ServiceAccount
metadata: {{name: deny-all, namespace: {namespace}}}
"""


def authorization_policy(namespace: str) -> str:
    return f"""apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: deny-all, namespace: {namespace}}}
spec: {{}}
"""


def bookinfo(weight: int = 90) -> str:
    return "---\n".join([service_entry(), destination_rule(), virtual_service(weight=weight)])
