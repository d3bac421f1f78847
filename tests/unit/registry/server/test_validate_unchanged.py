"""An apply costs what it changes: documents equal to what is stored are reported
unchanged without being validated, written or analyzed again."""

from __future__ import annotations

from typing import Any

import pytest

from inmesh.registry._errors import BadRequest
from inmesh.registry.server import _validate
from inmesh.registry.server._validate import Validator, parse_body
from inmesh.registry.store import ResourceKey, StoredResource, WriteResult

from .test_validate import SE, vs

SE_KEY = ResourceKey("ServiceEntry", "default", "reviews")


def stored_from(validator: Validator, text: str, version: int = 1) -> list[StoredResource]:
    """What a store holds after applying ``text`` (each resource at ``version``)."""
    checked = validator.check_apply(parse_body(text.encode()), None, [])
    written = [WriteResult(w.key, "created", version) for w in checked.writes]
    validator.remember(checked, written)
    return [
        StoredResource(key=w.key, body=w.body, version=version, created=0.0)
        for w in checked.writes
        if w.body is not None
    ]


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many documents each validation is given (``None`` entries not counted)."""
    counts: list[int] = []
    real = _validate.parse_documents

    def counting(docs: list[Any], **kwargs: Any) -> Any:
        counts.append(sum(d is not None for d in docs))
        return real(docs, **kwargs)

    monkeypatch.setattr(_validate, "parse_documents", counting)
    return counts


def test_the_stored_form_reapplied_is_unchanged_and_not_validated(parsed: list[int]) -> None:
    validator = Validator()
    stored = stored_from(validator, SE + "---\n" + vs("a"))
    parsed.clear()
    again = [dict(s.body) for s in stored]  # what `inmesh apply` sends: the stored form
    checked = validator.check_apply(again, None, stored)
    assert checked.writes == [] and checked.warnings == []
    assert checked.unchanged == {s.key: 1 for s in stored}
    assert [r.action for r in checked.results([])] == ["unchanged", "unchanged"]
    assert parsed == [0]  # nothing validated


def test_the_same_raw_document_reapplied_is_unchanged_and_not_validated(
    parsed: list[int],
) -> None:
    raw = vs("a").replace("  - route:", "  - timeout: 1500ms\n    route:")  # stored as 1.5s
    validator = Validator()
    stored = stored_from(validator, raw)
    assert stored[0].body["spec"]["http"][0]["timeout"] == "1.5s"
    parsed.clear()
    checked = validator.check_apply(parse_body(raw.encode()), None, stored)
    assert checked.writes == [] and list(checked.unchanged.values()) == [1]
    assert parsed == [0]
    # a fresh validator (a restarted registry) knows only the stored form: it validates
    # the raw document again, and writes what the store will find unchanged
    fresh = Validator()
    checked = fresh.check_apply(parse_body(raw.encode()), None, stored)
    assert [w.body for w in checked.writes] == [stored[0].body]


def test_only_the_changed_document_is_validated_written_and_analyzed(
    parsed: list[int],
) -> None:
    validator = Validator()
    stored = stored_from(validator, SE + "---\n" + vs("a"))
    parsed.clear()
    changed = vs("a").replace("host: reviews}", "host: reviews}\n      weight: 100")
    checked = validator.check_apply(parse_body((SE + "---\n" + changed).encode()), None, stored)
    assert [w.key.name for w in checked.writes] == ["a"]
    assert parsed == [1]
    written = [WriteResult(checked.writes[0].key, "configured", 2)]
    results = checked.results(written)
    assert [(r.key.kind, r.action, r.version) for r in results] == [
        ("ServiceEntry", "unchanged", 1),
        ("VirtualService", "configured", 2),
    ]


def test_a_stale_resource_version_is_not_unchanged() -> None:
    validator = Validator()
    stored = stored_from(validator, SE, version=5)
    doc = dict(stored[0].body)
    doc["metadata"] = {**doc["metadata"], "resourceVersion": "4"}
    checked = validator.check_apply([doc], None, stored)
    assert [(w.key, w.expected_version) for w in checked.writes] == [(SE_KEY, 4)]
    doc["metadata"]["resourceVersion"] = "5"
    assert validator.check_apply([doc], None, stored).writes == []


def test_an_unchanged_document_twice_is_still_a_duplicate() -> None:
    validator = Validator()
    stored = stored_from(validator, SE)
    with pytest.raises(BadRequest, match=r"document 2: .* appears twice"):
        validator.check_apply([dict(stored[0].body)] * 2, None, stored)


def test_schema_errors_keep_their_document_numbers_among_unchanged_ones() -> None:
    validator = Validator()
    stored = stored_from(validator, SE)
    broken = vs("a").replace("[reviews]", "[Bad_Host!]")
    with pytest.raises(BadRequest, match="document 2") as info:
        validator.check_apply(parse_body((SE + "---\n" + broken).encode()), None, stored)
    assert info.value.status == 400


def test_each_problem_is_also_located_in_the_request() -> None:
    """One located problem per message: the document's index in the request, the
    resource, the field, and the message without its location."""
    validator = Validator()
    stored = stored_from(validator, SE)
    broken = vs("a").replace("[reviews]", "[Bad_Host!]")
    with pytest.raises(BadRequest) as info:
        validator.check_apply(parse_body((SE + "---\n" + broken).encode()), None, stored)
    problems = info.value.problems
    assert len(problems) == len(info.value.messages) >= 1
    first = problems[0]
    assert (first["document"], first["kind"], first["name"]) == (2, "VirtualService", "a")
    assert first["field"].startswith("spec.hosts") and first["code"] == "IST0106"
    assert first["message"] in info.value.messages[0] and "document" not in first["message"]
    with pytest.raises(BadRequest) as info:
        validator.check_apply([dict(stored[0].body)] * 2, None, stored)
    assert info.value.problems == [
        {
            "document": 2,
            "message": "appears twice in one apply",
            "kind": "ServiceEntry",
            "namespace": "default",
            "name": "reviews",
        }
    ]
