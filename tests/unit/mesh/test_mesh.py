"""Mesh's own contract: configuration sources, swaps, client options."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import inmesh

SE = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: one}
spec:
  hosts: [one.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1}]
"""


def test_apply_takes_one_path_as_a_path(tmp_path: Path) -> None:
    cfg = tmp_path / "mesh.yaml"
    cfg.write_text(SE)
    mesh = inmesh.Mesh(service="app")
    mesh.apply(str(cfg))  # not iterated as one-character paths
    assert [r.name for r in mesh.resources] == ["one"]
    mesh.apply(cfg)
    assert [r.name for r in mesh.resources] == ["one"]
    mesh.apply([str(cfg)])
    assert [r.name for r in mesh.resources] == ["one"]


@pytest.mark.skipif(importlib.util.find_spec("h2") is not None, reason="h2 is installed")
def test_http2_without_h2_raises_as_httpx_does() -> None:
    mesh = inmesh.Mesh(service="app")
    with pytest.raises(ImportError, match="'h2' package is not installed"):
        mesh.client(http2=True)
    with pytest.raises(ImportError, match="'h2' package is not installed"):
        mesh.sync_client(http2=True)


CORS_VS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: cors}
spec:
  hosts: [one]
  http:
  - route: [{destination: {host: one}}]
    corsPolicy: {allowOrigins: [{exact: "https://a.example"}]}
"""

TWO = SE.replace("name: one", "name: two").replace("one.default", "two.default")


def test_a_push_with_a_resource_the_runtime_cannot_use_applies_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import yaml

    from inmesh.config import parse_documents

    mesh = inmesh.Mesh(service="app")
    pushed = parse_documents([yaml.safe_load(d) for d in (SE, CORS_VS, TWO)])
    view = type("View", (), {"revision": 7, "resources": pushed})()
    rejected = mesh._on_view(view)
    assert [r.name for r in mesh.resources] == ["one", "two"]  # everything else applied
    assert [(r.kind, r.namespace, r.name) for r in rejected] == [
        ("VirtualService", "default", "cors")
    ]
    assert "corsPolicy" in rejected[0].reason and "not supported yet" in rejected[0].reason
    assert mesh.snapshot.cluster_for("two", None, 80) is not None
    # logged once, not on every push
    mesh._on_view(view)
    assert sum("cors skipped" in r.getMessage() for r in caplog.records) == 1
