"""The runtime refuses what it cannot honour (``check_supported``, run by every ``Mesh``),
with the support table's wording, file, document, resource and field."""

from __future__ import annotations

from pathlib import Path

import pytest

import inmesh
from inmesh import ConfigError
from inmesh._runtime_support import check_supported
from inmesh.config import load_config, parse_documents, unsupported_problems

ALLOW_NOTHING = {
    "apiVersion": "security.istio.io/v1",
    "kind": "AuthorizationPolicy",
    "metadata": {"name": "allow-nothing", "namespace": "shop"},
    "spec": {},
}


def test_allow_nothing_is_taken_for_enforcement() -> None:
    # enforced inbound by MeshMiddleware (tests/integration/inbound)
    check_supported(parse_documents([ALLOW_NOTHING], source="policy.yaml"))
    mesh = inmesh.Mesh(service="web", namespace="shop", config=[ALLOW_NOTHING])
    assert [r.kind for r in mesh.resources] == ["AuthorizationPolicy"]


def test_a_file_is_located_in_the_refusal(tmp_path: Path) -> None:
    path = tmp_path / "mesh.yaml"
    path.write_text(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: db}\n"
        "spec:\n  host: db\n  trafficPolicy:\n"
        "    connectionPool: {http: {maxRequestsPerConnection: 5}}\n"
    )
    with pytest.raises(ConfigError) as err:
        check_supported(load_config(path))
    [problem] = err.value.problems
    assert (problem.file, problem.document, problem.code) == (str(path), 1, "INM0002")
    assert problem.field == "spec.trafficPolicy.connectionPool.http.maxRequestsPerConnection"
    assert problem.message == "maxRequestsPerConnection above 1 is not supported yet"


def test_supported_resources_pass() -> None:
    resources = parse_documents(
        [
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "DestinationRule",
                "metadata": {"name": "db"},
                "spec": {
                    "host": "db",
                    "trafficPolicy": {"connectionPool": {"http": {"maxRequestsPerConnection": 1}}},
                },
            }
        ]
    )
    assert unsupported_problems(resources[0]) == []
    assert check_supported(resources) is None  # no ConfigError
