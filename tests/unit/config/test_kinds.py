"""Which kinds a file may hold: modelled kinds load, Kubernetes kinds the mesh does not use
are skipped (listed), mesh kinds inmesh does not model are refused by name, and a model
module is imported only when its kind is first met."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from inmesh import ConfigError
from inmesh.config import load_config, load_report, parse_documents

from ._helpers import problems, write

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "conformance" / "istio-bookinfo"

VS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews}}]}]
"""
# What an application's manifests hold next to its mesh configuration (Istio's samples/).
MIXED = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: shop}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: bookinfo-reviews}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: settings}}
data: {{key: value}}
---
apiVersion: v1
kind: Secret
metadata: {{name: creds}}
stringData: {{password: x}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: reviews-v1}}
spec:
  template:
    metadata: {{labels: {{app: reviews, version: v1}}}}
    spec: {{serviceAccountName: bookinfo-reviews, containers: [{{name: reviews}}]}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: db}}
spec: {{serviceName: db}}
---
apiVersion: batch/v1
kind: Job
metadata: {{name: migrate}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: reader}}
rules: []
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {{name: tls}}
---
{VS}
"""


def test_kubernetes_kinds_the_mesh_does_not_use_are_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, MIXED)
    with caplog.at_level(logging.DEBUG, logger="inmesh.config"):
        report = load_report(path)
    assert [r.kind for r in report.resources] == [
        "ServiceAccount",
        "Deployment",
        "VirtualService",
    ]
    skipped = [(p.document, p.kind, p.code, p.severity) for p in report.skipped]
    assert skipped == [
        (1, "Namespace", "INM0003", "Info"),
        (3, "ConfigMap", "INM0003", "Info"),
        (4, "Secret", "INM0003", "Info"),
        (6, "StatefulSet", "INM0003", "Info"),
        (7, "Job", "INM0003", "Info"),
        (8, "ClusterRole", "INM0003", "Info"),
        (9, "Certificate", "INM0003", "Info"),
    ]
    assert "ConfigMap (v1) is a Kubernetes kind the mesh does not use" in str(report.skipped[1])
    assert "left to its own controller" in str(report.skipped[-1])
    assert sum("skipped" in r.getMessage() for r in caplog.records) == 7
    assert [r.kind for r in load_config(path)] == [r.kind for r in report.resources]


def test_parse_documents_accepts_only_mesh_resources() -> None:
    # one resource per document: what the registry's apply stores
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    with pytest.raises(ConfigError, match="only mesh resources are accepted here"):
        parse_documents([config_map])
    # as load_config does for files (e.g. `inmesh apply -f -` reading stdin)
    assert parse_documents([config_map], skip_unused=True) == []


@pytest.mark.parametrize(
    ("api_version", "kind", "says"),
    [
        ("networking.istio.io/v1alpha3", "EnvoyFilter", "EnvoyFilter is not supported yet"),
        ("networking.istio.io/v1", "WorkloadGroup", "WorkloadGroup is not supported yet"),
        ("networking.istio.io/v1beta1", "ProxyConfig", "ProxyConfig is not supported yet"),
        ("security.istio.io/v1", "RequestAuthentication", "RequestAuthentication is not"),
        ("extensions.istio.io/v1alpha1", "WasmPlugin", "WasmPlugin is not supported yet"),
        ("gateway.networking.k8s.io/v1", "HTTPRoute", "HTTPRoute (gateway.networking.k8s.io"),
        ("gateway.networking.k8s.io/v1", "Gateway", "Gateway (gateway.networking.k8s.io"),
        ("networking.istio.io/v1", "Frobnicator", "unknown kind 'Frobnicator'"),
        ("v1", "Frobnicator", "unknown kind 'Frobnicator'"),
        ("apps/v1", "Frobnicator", "unknown kind 'Frobnicator'"),
    ],
)
def test_mesh_kinds_not_modelled_and_unknown_kinds_are_refused(
    tmp_path: Path, api_version: str, kind: str, says: str
) -> None:
    text = f"apiVersion: {api_version}\nkind: {kind}\nmetadata: {{name: x}}\nspec: {{}}\n"
    [problem] = problems(tmp_path, text)
    assert says in problem.message
    assert problem.field == "kind" and problem.document == 1
    if "not supported yet" in says:
        assert problem.code == "INM0002"


def test_a_modelled_kind_with_another_group_is_refused_not_skipped(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, VS.replace("networking.istio.io/v1", "example.com/v1"))
    assert problem.field == "apiVersion" and "not served for kind VirtualService" in problem.message


def test_bookinfo_platform_file_loads(tmp_path: Path) -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"the Bookinfo conformance corpus is not at {CORPUS}")
    report = load_report(CORPUS / "platform-kube-bookinfo.yaml")
    kinds = {r.kind for r in report.resources}
    assert {"Service", "ServiceAccount", "Deployment"} <= kinds
    assert report.skipped == []


def test_import_inmesh_builds_no_model_and_a_kind_imports_only_its_modules() -> None:
    code = textwrap.dedent("""
        import sys
        import inmesh
        import inmesh.config
        inmesh.Mesh  # the Mesh loads on first use: with it, still no model
        models = lambda: sorted(
            m for m in sys.modules
            if m.startswith("inmesh.config._") and m not in (
                "inmesh.config._loc", "inmesh.config._support", "inmesh.config._files",
                "inmesh.config._kinds", "inmesh.config._loader", "inmesh.config._yaml_events",
            )
        )
        print(models(), "pydantic" in sys.modules, "yaml" in sys.modules)
        inmesh.config.parse_documents([{
            "apiVersion": "networking.istio.io/v1", "kind": "WorkloadEntry",
            "metadata": {"name": "w"}, "spec": {"address": "127.0.0.1"}}])
        print("_security" in str(models()), "_virtual_service" in str(models()))
    """)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["[] False False", "False False"]
