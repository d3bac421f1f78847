"""The authorization evaluator's cost per request: 20 AuthorizationPolicies of 5 rules each.

    .venv/bin/python benchmarks/authz.py [--repeat 7] [--number 20000]

Pure (no sockets): what the inbound middleware will pay per request to decide. The 20
policies (4 DENY, 16 ALLOW, 5 rules each, all applying to the workload) use every kind of
matcher: principals (exact, prefix), namespaces, serviceAccounts, ipBlocks, hosts,
ports, methods, paths (exact, prefix, ``{*}``/``{**}`` templates), notPaths and
``request.headers[...]`` / ``source.ip`` / ``destination.port`` conditions. Requests:

- ``allow, last rule``: allowed by the last rule of the last ALLOW policy (every DENY rule
  and every other ALLOW rule evaluated first: the worst case for an allowed request);
- ``deny, no match``: no rule matches (every rule evaluated: the worst case);
- ``deny, DENY policy``: the first DENY policy matches;
- ``allow, first rule``: the first ALLOW policy's first rule matches;
- ``no policies``: the same request against a workload no policy applies to (baseline).

Each figure is ``timeit``'s best of ``--repeat`` runs of ``--number`` calls of
``AuthzRequest(...)`` + ``WorkloadAuthorizer.check`` (the request object is part of the
cost, as the middleware builds one per request), in microseconds. Budget: 20 us per
request for the 20x5 set.
"""

from __future__ import annotations

import argparse
import sys
import timeit
from collections.abc import Callable
from typing import Any

from inmesh.config import parse_documents
from inmesh.security import Authorizer, AuthzRequest, WorkloadAuthorizer

BUDGET_US = 20.0
NS = "shop"


def _rule(p: int, r: int) -> dict[str, Any]:
    """Rule r (0..4) of policy p: five shapes, none matching the benchmark's requests
    unless placed to (see _policies)."""
    shapes: list[dict[str, Any]] = [
        {
            "from": [{"source": {"principals": [f"cluster.local/ns/t{p}/sa/a{r}", f"td{p}/*"]}}],
            "to": [{"operation": {"methods": ["GET", "HEAD"], "paths": [f"/api/v{p}/{{*}}/x"]}}],
        },
        {
            "from": [{"source": {"namespaces": [f"team-{p}", f"ops-{p}-*"]}}],
            "to": [{"operation": {"ports": ["8080", "9090"], "notPaths": ["/healthz"]}}],
            "when": [{"key": "request.headers[x-tenant]", "values": [f"t{p}", f"t{p}-*"]}],
        },
        {
            "to": [{"operation": {"hosts": [f"svc{p}.example.com", f"*.p{p}.internal"]}}],
            "when": [{"key": "destination.port", "values": [str(10000 + p)]}],
        },
        {
            "from": [{"source": {"ipBlocks": [f"10.{p}.0.0/16"], "serviceAccounts": [f"sa{p}"]}}],
            "to": [{"operation": {"methods": ["POST"], "paths": [f"/orders/{p}/{{**}}"]}}],
        },
        {
            "from": [{"source": {"principals": [f"cluster.local/ns/x{p}/sa/y{r}"]}}],
            "to": [{"operation": {"paths": [f"/static{p}/*", f"*.p{p}"]}}],
            "when": [{"key": "source.ip", "values": [f"192.168.{p}.0/24"]}],
        },
    ]
    return shapes[r]


def _policies() -> list[dict[str, Any]]:
    docs = []
    for p in range(20):
        action = "DENY" if p < 4 else "ALLOW"
        rules = [_rule(p, r) for r in range(5)]
        if p == 0:  # the first DENY policy: denies a debug header
            rules[0] = {"when": [{"key": "request.headers[x-debug]", "values": ["*"]}]}
        if p == 4:  # the first ALLOW policy: its first rule lets /public in
            rules[0] = {"to": [{"operation": {"methods": ["GET"], "paths": ["/public/*"]}}]}
        if p == 19:  # the last ALLOW policy: its last rule lets the frontend in
            rules[4] = {
                "from": [{"source": {"principals": ["cluster.local/ns/shop/sa/front"]}}],
                "to": [{"operation": {"methods": ["GET"], "paths": ["/pay/{*}"]}}],
            }
        docs.append(
            {
                "apiVersion": "security.istio.io/v1",
                "kind": "AuthorizationPolicy",
                "metadata": {"name": f"p{p:02d}", "namespace": NS},
                "spec": {"action": action, "rules": rules},
            }
        )
    return docs


BASE: dict[str, Any] = {
    "host": "payments.shop:8080",
    "port": 8080,
    "source_ip": "10.99.1.2",
    "destination_ip": "10.99.3.4",
}
HEADERS = {"user-agent": "bench", "accept": "*/*", "x-request-id": "abc"}
FRONT = "cluster.local/ns/shop/sa/front"
REQUESTS: dict[str, tuple[dict[str, Any], bool]] = {
    "allow, last rule": (
        dict(method="GET", path="/pay/42?x=1", source_principal=FRONT, headers=HEADERS),
        True,
    ),
    "deny, no match": (
        dict(method="GET", path="/pay/42/x", source_principal=FRONT, headers=HEADERS),
        False,
    ),
    "deny, DENY policy": (
        dict(method="GET", path="/pay/42", source_principal=FRONT, headers={"x-debug": "1"}),
        False,
    ),
    "allow, first rule": (dict(method="GET", path="/public/a", headers=HEADERS), True),
}


def _cost(workload: WorkloadAuthorizer, fields: dict[str, Any], repeat: int, number: int) -> float:
    def once() -> object:
        return workload.check(AuthzRequest(**BASE, **fields))

    call: Callable[[], object] = once
    best = min(timeit.Timer(call).repeat(repeat=repeat, number=number))
    return best / number * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--number", type=int, default=20000)
    args = parser.parse_args(argv)

    resources = parse_documents(_policies())
    compile_s = min(timeit.repeat(lambda: Authorizer(resources), repeat=3, number=1))
    authorizer = Authorizer(resources)
    workload = authorizer.for_workload(namespace=NS, labels={"app": "payments"})
    bare = authorizer.for_workload(namespace="elsewhere")
    assert len(workload.policies) == 20 and not bare.policies

    print(f"authorization: 20 policies x 5 rules, best of {args.repeat} x {args.number} calls")
    print(f"compile (Authorizer over 20 policies, once): {compile_s * 1e3:.1f} ms")
    print()
    print(f"{'request':<22} {'decision':<9} {'us/request':>10} {'budget':>8}")
    worst = 0.0
    for name, (fields, expected) in REQUESTS.items():
        decision = workload.check(AuthzRequest(**BASE, **fields))
        assert decision.allowed is expected, (name, decision)
        us = _cost(workload, fields, args.repeat, args.number)
        worst = max(worst, us)
        verdict = "ALLOW" if decision.allowed else "DENY"
        print(f"{name:<22} {verdict:<9} {us:>10.2f} {BUDGET_US:>7.0f}")
    fields, _ = REQUESTS["allow, last rule"]
    us = _cost(bare, fields, args.repeat, args.number)
    print(f"{'no policies':<22} {'ALLOW':<9} {us:>10.2f} {'-':>8}")
    print()
    ok = worst <= BUDGET_US
    print(f"worst case {worst:.2f} us: {'within' if ok else 'OVER'} the {BUDGET_US:.0f} us budget")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
