"""The registry's JSON API against a real server: CRUD, transactions, and every 4xx."""

from __future__ import annotations

import pytest

from .conftest import Registry
from .yamls import authorization_policy, bookinfo, service_account, service_entry, virtual_service

pytestmark = pytest.mark.integration


def names(registry: Registry, **params: str) -> list[str]:
    with registry.http() as c:
        items = c.get("/v1/resources", params=params).json()["items"]
    return [f"{i['kind']}/{i['metadata']['namespace']}/{i['metadata']['name']}" for i in items]


def test_apply_get_list_update_delete(registry: Registry) -> None:
    r = registry.apply(bookinfo())
    assert r.status_code == 200, r.text
    assert [x["action"] for x in r.json()["results"]] == ["created"] * 3
    assert r.json()["warnings"] == []
    assert names(registry, kind="VirtualService") == ["VirtualService/default/reviews"]
    with registry.http() as c:
        got = c.get("/v1/resources/VirtualService/default/reviews").json()
    version = got["metadata"]["resourceVersion"]
    assert got["spec"]["http"][0]["route"][0]["weight"] == 90
    again = registry.apply(bookinfo()).json()
    assert [x["action"] for x in again["results"]] == ["unchanged"] * 3
    assert again["revision"] == r.json()["revision"]
    updated = registry.apply(virtual_service(weight=50, resource_version=version)).json()
    assert updated["results"][0]["action"] == "configured"
    with registry.http() as c:
        assert c.delete("/v1/resources/VirtualService/default/reviews").status_code == 200
        assert c.get("/v1/resources/VirtualService/default/reviews").status_code == 404
        deleted = c.post("/v1/delete", content=bookinfo(), params={"ignoreNotFound": "true"}).json()
    assert sorted(x["kind"] for x in deleted["results"]) == ["DestinationRule", "ServiceEntry"]
    assert names(registry) == []


def test_a_multi_document_apply_is_all_or_nothing(registry: Registry) -> None:
    registry.apply(virtual_service(weight=90) + "---\n" + service_entry())
    before = names(registry)
    broken = service_entry("ratings") + "---\n" + virtual_service(weight=150)
    r = registry.apply(broken)
    assert r.status_code == 400
    assert any("weight" in m for m in r.json()["messages"]), r.json()
    stale = service_entry("ratings") + "---\n" + virtual_service(weight=10, resource_version="1")
    registry.apply(virtual_service(weight=80))
    r = registry.apply(stale)
    assert r.status_code == 409 and "modified" in r.json()["messages"][0]
    assert names(registry) == before


def test_dry_run_stores_nothing(registry: Registry) -> None:
    r = registry.apply(bookinfo(), dryRun="true")
    assert r.status_code == 200 and r.json()["dryRun"]
    assert names(registry) == []


def test_security_policies_are_stored_and_what_cannot_be_enforced_is_refused(
    registry: Registry,
) -> None:
    # Istio's allow-nothing policy (spec: {}) is enforced inbound: stored
    assert registry.apply(authorization_policy("shop")).status_code == 200
    # an external authorizer (CUSTOM) is not: a 400 naming the resource and field
    custom = (
        authorization_policy("shop")
        .replace("deny-all", "ext")
        .replace("spec: {}", "spec: {action: CUSTOM, provider: {name: opa}, rules: [{}]}")
    )
    r = registry.apply(custom)
    assert r.status_code == 400
    message = " ".join(r.json()["messages"])
    assert "INM0002" in message and "AuthorizationPolicy shop/ext" in message
    assert "CUSTOM" in message and "not supported yet" in message


def test_unsupported_fields_are_refused_naming_the_field(registry: Registry) -> None:
    cors = virtual_service("ratings").replace(
        "  - route:", "  - corsPolicy: {allowOrigins: [{exact: a.example}]}\n    route:", 1
    )
    assert "corsPolicy" in cors
    r = registry.apply(service_entry("ratings") + "---\n" + cors)
    assert r.status_code == 400
    text = " ".join(r.json()["messages"])
    assert "spec.http[0].corsPolicy: corsPolicy is not supported yet" in text


def test_analysis_errors_block_and_missing_references_warn(registry: Registry) -> None:
    r = registry.apply(virtual_service("ratings"))
    assert r.status_code == 200
    assert any("IST0101" in w for w in r.json()["warnings"])
    conflicting = virtual_service("ratings").replace("name: ratings,", "name: ratings-2,")
    r = registry.apply(conflicting)
    assert r.status_code == 400 and "IST0109" in " ".join(r.json()["messages"])


@pytest.mark.parametrize(
    "body, content_type, expected",
    [
        ("kind: [unclosed", "application/yaml", "YAML syntax error"),
        ("{nope", "application/json", "JSON syntax error"),
        ("apiVersion: v1\nkind: Frob\nmetadata: {name: x}\n", "application/yaml", "unknown kind"),
        (
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: UPPER}\n"
            "spec: {hosts: [a]}\n",
            "application/yaml",
            "UPPER",
        ),
    ],
)
def test_bad_input_is_400_with_every_message(
    registry: Registry, body: str, content_type: str, expected: str
) -> None:
    with registry.http() as c:
        r = c.post("/v1/apply", content=body, headers={"content-type": content_type})
    assert r.status_code == 400
    assert r.json()["code"] == 400 and expected in " ".join(r.json()["messages"])
    assert names(registry) == []


def test_bodies_over_the_limit_are_413(registry: Registry) -> None:
    huge = "# padding\n" * (5 * 1024 * 1024 // 10) + service_entry()
    r = registry.apply(huge)
    assert r.status_code == 413 and "limit" in r.json()["messages"][0]


def test_credentials(registry: Registry) -> None:
    with registry.http(token=None) as c:
        r = c.get("/v1/resources")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert c.get("/v1/openapi.json").status_code == 200
        assert c.get("/v1/healthz").json()["status"] == "ok"
    with registry.http(token="inm_not-a-token") as c:
        assert c.get("/v1/resources").status_code == 401
    join = registry.join_token("shop")
    with registry.http(token=join) as c:
        r = c.post("/v1/apply", content=service_entry())
        assert r.status_code == 403 and "admin" in r.json()["messages"][0]
        assert c.post("/v1/tokens", json={"namespace": "shop"}).status_code == 403


def test_join_tokens_read_their_namespace_view(registry: Registry) -> None:
    registry.apply(
        service_account("shop")
        + "---\n"
        + service_account("bank")
        + "---\n"
        + service_entry("ledger", "bank")
    )
    join = registry.join_token("shop")
    with registry.http(token=join) as c:
        items = c.get("/v1/resources").json()["items"]
        seen = {(i["kind"], i["metadata"]["namespace"]) for i in items}
        assert seen == {("ServiceAccount", "shop"), ("ServiceEntry", "bank")}
        r = c.get("/v1/resources", params={"kind": "ServiceAccount", "namespace": "bank"})
        assert r.status_code == 403
        assert c.get("/v1/resources/ServiceAccount/bank/deny-all").status_code == 403
        assert c.get("/v1/resources/ServiceEntry/bank/ledger").status_code == 200


def test_revoked_tokens_stop_working(registry: Registry) -> None:
    join = registry.join_token("shop")
    with registry.http() as admin:
        token_id = next(
            t["id"] for t in admin.get("/v1/tokens").json()["items"] if t["role"] == "join"
        )
        assert admin.delete(f"/v1/tokens/{token_id}").status_code == 200
    with registry.http(token=join) as c:
        assert c.get("/v1/resources").status_code == 401


def test_unknown_endpoints_and_methods_answer_json(registry: Registry) -> None:
    with registry.http() as c:
        assert c.get("/v1/nope").json()["code"] == 404
        assert c.put("/v1/apply").json()["code"] == 405
        assert c.get("/v1/resources", params={"kind": "Frob"}).status_code == 400
