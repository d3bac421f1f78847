"""Build AuthorizationPolicies in memory and ask the evaluator about requests."""

from __future__ import annotations

from typing import Any

from inmesh.config import Resource, parse_documents
from inmesh.security import Authorizer, AuthzRequest, Decision

FRONT = "cluster.local/ns/shop/sa/front"


def policy(
    name: str = "p",
    *,
    namespace: str = "shop",
    action: str | None = "ALLOW",
    rules: Any = None,
    selector: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = dict(spec)
    if action is not None:
        body["action"] = action
    if rules is not None:
        body["rules"] = rules
    if selector is not None:
        body["selector"] = {"matchLabels": selector}
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        meta["annotations"] = annotations
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": meta,
        "spec": body,
    }


def load(*docs: dict[str, Any]) -> list[Resource]:
    return parse_documents(docs)


def decide(
    *docs: dict[str, Any],
    namespace: str = "shop",
    labels: dict[str, str] | None = None,
    **request: Any,
) -> Decision:
    authorizer = Authorizer(load(*docs)).for_workload(namespace=namespace, labels=labels or {})
    return authorizer.check(AuthzRequest(**request))


def allowed(*docs: dict[str, Any], **request: Any) -> bool:
    return decide(*docs, **request).allowed


def only(rule: dict[str, Any], action: str = "ALLOW") -> dict[str, Any]:
    """A policy with one rule."""
    return policy(action=action, rules=[rule])


def src(**fields: Any) -> dict[str, Any]:
    return {"from": [{"source": fields}]}


def op(**fields: Any) -> dict[str, Any]:
    return {"to": [{"operation": fields}]}


def when(
    key: str, values: list[str] | None = None, not_values: list[str] | None = None
) -> dict[str, Any]:
    cond: dict[str, Any] = {"key": key}
    if values is not None:
        cond["values"] = values
    if not_values is not None:
        cond["notValues"] = not_values
    return {"when": [cond]}


def unvalidated_condition(key: str, values: list[str]) -> list[Resource]:
    """An ALLOW policy whose one rule has the condition ``key`` in ``values``, built past
    the config validation: for keys Istio accepts that ``inmesh.config`` does not yet
    (``source.serviceAccount``, ``source.trustDomain``)."""
    from inmesh.config._security import Condition

    (resource,) = load(only(when("source.ip", ["127.0.0.1"])))
    cond = Condition.model_construct(key=key, values=tuple(values), not_values=())
    rule = resource.spec.rules[0].model_copy(update={"when": (cond,)})  # type: ignore[union-attr]
    spec = resource.spec.model_copy(update={"rules": (rule,)})  # type: ignore[union-attr]
    return [resource.model_copy(update={"spec": spec})]
