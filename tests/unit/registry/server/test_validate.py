"""Request bodies to writes: syntax, schema and analysis, every problem at once."""

from __future__ import annotations

import pytest

from inmesh.registry._errors import BadRequest
from inmesh.registry.server._validate import Validator, parse_body, resource_keys
from inmesh.registry.store import ResourceKey, StoredResource

SE = """apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [reviews.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: reviews}}
"""


def vs(name: str, host: str = "reviews") -> str:
    return f"""apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}}}
spec:
  hosts: [{host}]
  http:
  - route:
    - destination: {{host: {host}}}
"""


def test_yaml_json_lists_and_kubernetes_lists() -> None:
    assert len(parse_body((SE + "---\n" + vs("a")).encode())) == 2
    assert len(parse_body(b'[{"kind": "A"}, {"kind": "B"}]', "application/json")) == 2
    assert len(parse_body(b'{"kind": "List", "items": [{"kind": "A"}]}', "application/json")) == 1


@pytest.mark.parametrize(
    "body, content_type, expected",
    [
        (b"a: [1, 2", "application/yaml", "YAML syntax error"),
        (b"{not json", "application/json", "JSON syntax error"),
        (b"", "application/yaml", "no documents"),
        (b"- 1\n", "application/yaml", "expected a mapping"),
        (b"\xff\xfe", "application/yaml", "not UTF-8"),
    ],
)
def test_malformed_bodies(body: bytes, content_type: str, expected: str) -> None:
    with pytest.raises(BadRequest, match=expected) as info:
        parse_body(body, content_type)
    assert info.value.status == 400


def test_every_schema_problem_is_reported() -> None:
    docs = parse_body(b"""apiVersion: v1
kind: Frobnicator
metadata: {name: x}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: Bad_Name}
spec: {hosts: [a]}
""")
    with pytest.raises(BadRequest) as info:
        Validator().check_apply(docs, None, [])
    text = "\n".join(info.value.messages)
    assert "unknown kind 'Frobnicator'" in text and "Bad_Name" in text
    assert len(info.value.messages) >= 2


def test_namespace_defaulting_and_mismatch() -> None:
    checked = Validator().check_apply(parse_body((SE + "---\n" + vs("a")).encode()), "shop", [])
    assert {w.key.namespace for w in checked.writes} == {"shop"}
    other = parse_body(
        b"apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        b"metadata: {name: a, namespace: prod}\nspec: {hosts: [a]}\n"
    )
    with pytest.raises(BadRequest, match="does not match"):
        Validator().check_apply(other, "shop", [])


def test_resource_version_becomes_the_expected_version() -> None:
    doc = parse_body(vs("a").replace("{name: a}", "{name: a, resourceVersion: '7'}").encode())
    write = Validator().check_apply(doc, None, []).writes[0]
    assert write.expected_version == 7
    assert "resourceVersion" not in write.body["metadata"]  # type: ignore[index]


def test_missing_references_are_warnings_not_errors() -> None:
    checked = Validator().check_apply(parse_body(vs("a", "ratings").encode()), None, [])
    assert len(checked.writes) == 1
    assert any("IST0101" in w and w.startswith("Warning") for w in checked.warnings)


def test_conflicts_with_stored_resources_block_the_apply() -> None:
    validator = Validator()
    stored_doc = validator.check_apply(parse_body(vs("first").encode()), None, []).writes[0]
    assert stored_doc.body is not None
    stored = [
        StoredResource(
            key=ResourceKey("VirtualService", "default", "first"),
            body=stored_doc.body,
            version=1,
            created=0.0,
        )
    ]
    with pytest.raises(BadRequest, match="IST0109"):
        validator.check_apply(parse_body(vs("second").encode()), None, stored)
    # Re-applying the stored one itself is no conflict.
    validator.check_apply(parse_body(vs("first").encode()), None, stored)


def test_duplicates_in_one_apply() -> None:
    with pytest.raises(BadRequest, match="appears twice"):
        Validator().check_apply(parse_body((SE + "---\n" + SE).encode()), None, [])


def test_delete_keys_need_only_kind_and_name() -> None:
    keys = resource_keys(parse_body(vs("a").encode()), None)
    assert keys == [ResourceKey("VirtualService", "default", "a")]
    with pytest.raises(BadRequest, match="unknown kind"):
        resource_keys([{"kind": "Nope", "metadata": {"name": "a"}}], None)
