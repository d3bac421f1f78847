"""Workload declarations and the resources that place them."""

from __future__ import annotations

import pytest

from inmesh.testing import workload
from inmesh.testing._config import config_resources
from inmesh.testing._workloads import Instance, as_workload, entry_doc, service_port


def app(scope: object, receive: object, send: object) -> None: ...


def test_names_split_into_service_and_version() -> None:
    w = as_workload("reviews-v2", app)
    assert (w.service, w.version, w.name) == ("reviews", "v2", "reviews-v2")
    assert w.all_labels() == {"app": "reviews", "version": "v2"}
    plain = as_workload("ratings", app)
    assert (plain.service, plain.version) == ("ratings", "")
    with pytest.raises(ValueError, match="replicas must be 1 or more"):
        workload(app, service="x", replicas=0)


def test_the_port_comes_from_the_configuration() -> None:
    config = config_resources(
        "apiVersion: v1\nkind: Service\nmetadata: {name: reviews}\n"
        "spec: {ports: [{port: 9080, name: http-web}], selector: {app: reviews}}\n"
    )
    assert service_port(config, "reviews", "default") == (9080, "http-web")
    assert service_port(config, "ratings", "default") is None


def test_a_replica_is_a_workload_entry_with_its_labels() -> None:
    w = workload(app, service="reviews", version="v1", labels={"zone": "a"})
    doc = entry_doc(Instance(w, 0, "127.1.0.2", 9080, "http", 9080))
    assert doc["metadata"]["name"] == "reviews-v1-0"
    assert doc["spec"] == {
        "address": "127.1.0.2",
        "ports": {"http": 9080},
        "labels": {"app": "reviews", "version": "v1", "zone": "a"},
    }


def test_configuration_from_text_files_dicts_and_resources(tmp_path: object) -> None:
    from pathlib import Path

    text = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 80}]}\n"
    path = Path(str(tmp_path)) / "mesh.yaml"
    path.write_text(text)
    as_dict = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "b"},
        "spec": {"ports": [{"port": 81}]},
    }
    from_text = config_resources(text)
    assert [r.name for r in from_text] == ["a"]
    assert [r.name for r in config_resources(path)] == ["a"]
    assert [r.name for r in config_resources([str(path), text])] == ["a", "a"]
    assert [r.name for r in config_resources([as_dict, *from_text])] == ["b", "a"]
    assert config_resources(None) == []
