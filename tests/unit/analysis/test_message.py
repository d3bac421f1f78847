"""Messages (analysis/_message.py): istioctl's order, deduplication, thresholds and the
fields of ``-o json|yaml``."""

from __future__ import annotations

from inmesh.analysis import Message, at_least, sorted_messages


def test_sorted_as_istioctl_level_code_then_kind_name_namespace() -> None:
    msgs = [
        Message("Info", "IST0131", "X", "VirtualService a/z", "m"),
        Message("Warning", "IST0130", "X", "VirtualService b/a", "m"),
        Message("Error", "IST0101", "X", "VirtualService b/a", "m"),
        Message("Error", "IST0101", "X", "VirtualService a/a", "m"),
        Message("Error", "IST0101", "X", "DestinationRule z/z", "m"),
        Message("Error", "IST0101", "X", "VirtualService a/a", "m"),  # a duplicate
    ]
    assert [(m.level, m.resource) for m in sorted_messages(msgs)] == [
        ("Error", "DestinationRule z/z"),
        ("Error", "VirtualService a/a"),  # kind/name/namespace: a/a before a/b
        ("Error", "VirtualService b/a"),
        ("Warning", "VirtualService b/a"),
        ("Info", "VirtualService a/z"),
    ]


def test_thresholds() -> None:
    assert at_least("Error", "Warning") and at_least("Warning", "Warning")
    assert not at_least("Info", "Warning")


def test_fields_of_structured_output() -> None:
    m = Message("Warning", "INM0003", "X", "ConfigMap a/b", "skipped", "f.yaml document 2")
    assert m.to_dict() == {
        "code": "INM0003",
        "level": "Warning",
        "origin": "ConfigMap a/b",
        "reference": "f.yaml document 2",
        "message": "skipped",
    }
    assert Message("Error", "IST0106", "X", "", "bad").documentation_url == (
        "https://istio.io/latest/docs/reference/config/analysis/ist0106/?ref=istioctl-analyze"
    )
