"""Finding the values at support-table paths: the per-class plans give what a plain walk
of every path gives (the walk the plans replaced), on the examples, the Istio corpus and
resources that set the unsupported fields and values."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from inmesh.config import parse_documents
from inmesh.config._kinds import kind_class
from inmesh.config._loc import Loc
from inmesh.config._model_paths import PathTree, _attributes, _dumped
from inmesh.config._support import _paths_of

ROOT = Path(__file__).resolve().parents[3]


def _reference(tree: PathTree, value: Any, loc: Loc, out: list[tuple[Any, Loc, Any]]) -> None:
    """Every child of every node visited, as the walk did before it had plans."""
    if value is None:
        return
    if tree.tags:
        dumped = _dumped(value)
        out.extend((tag, loc, dumped) for tag in tree.tags)
    attrs = _attributes(type(value))
    for head, child in tree.children.items():
        if head == "[]":
            if isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    _reference(child, item, (*loc, i), out)
        elif head == "*":
            if isinstance(value, Mapping):
                for key, item in value.items():
                    _reference(child, item, (*loc, str(key)), out)
        elif attrs is not None:
            name = attrs.get(head)
            if name is not None:
                _reference(child, getattr(value, name), (*loc, head), out)
        elif isinstance(value, Mapping) and head in value:
            _reference(child, value[head], (*loc, head), out)


def _resources() -> list[Any]:
    paths = sorted(ROOT.glob("examples/**/*.yaml"))
    paths += sorted((ROOT.parent / "shared" / "conformance").glob("**/*.yaml"))
    docs = [
        doc
        for path in paths
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if isinstance(doc, dict) and kind_class(str(doc.get("kind"))) is not None
    ]
    policy = {
        "loadBalancer": {"simple": "PASSTHROUGH", "warmupDurationSecs": "10s"},
        "connectionPool": {
            "tcp": {"idleTimeout": "1s", "maxConnections": 0},
            "http": {"maxRequestsPerConnection": 5, "h2UpgradePolicy": "UPGRADE"},
        },
        "tls": {"mode": "SIMPLE", "subjectAltNames": []},
    }
    docs += [
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": "odd", "namespace": "ns"},
            "spec": {
                "host": "reviews",
                "trafficPolicy": {
                    **policy,
                    "portLevelSettings": [{"port": {"number": 80}, **policy}],
                },
                "subsets": [
                    {"name": "v1", "labels": {"v": "1"}, "trafficPolicy": policy},
                    {"name": "v2", "labels": {"v": "2"}},
                ],
            },
        },
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "odd", "namespace": "ns"},
            "spec": {
                "hosts": ["reviews"],
                "http": [
                    {"directResponse": {"status": 503}, "corsPolicy": {}},
                    {
                        "route": [{"destination": {"host": "reviews"}}],
                        "fault": {"abort": {"grpcStatus": "UNAVAILABLE", "percentage": {}}},
                        "retries": {"attempts": 0},
                    },
                ],
                "tcp": [{"route": [{"destination": {"host": "reviews"}}]}],
            },
        },
    ]
    return list(parse_documents(docs))


def test_plans_find_what_the_plain_walk_finds() -> None:
    resources = _resources()
    assert len(resources) > 20
    found_any = 0
    for resource in resources:
        tree = _paths_of(resource.kind)
        expected: list[tuple[Any, Loc, Any]] = []
        _reference(tree, resource, (), expected)
        assert tree.find(resource) == expected, f"{resource.kind}/{resource.name}"
        assert tree.find(resource) == expected  # again, from the cached plans
        found_any += len(expected)
    assert found_any > 10
