"""The ``inmesh analyze`` command as a user runs it: a real subprocess, its output lines in
istioctl's format (``-o log|json|yaml``), istioctl's exit statuses (79: a message at the
failure threshold; 65: a file that could not be parsed), and never a traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

NO_ISSUES = "✔ No validation issues found when analyzing the given files."

GOOD = """
apiVersion: v1
kind: Service
metadata: {name: reviews}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews, subset: v1}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v1}
spec:
  selector: {matchLabels: {app: reviews, version: v1}}
  template:
    metadata: {labels: {app: reviews, version: v1}}
    spec: {containers: [{name: reviews, image: reviews:v1}]}
"""


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "inmesh", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout, proc.stdout
    return proc


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return p


def test_good_configuration(tmp_path: Path) -> None:
    proc = run("analyze", "-f", write(tmp_path, "mesh.yaml", GOOD))
    assert proc.returncode == 0
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [NO_ISSUES]  # istioctl prints it on stderr


def test_bad_reference_is_an_istioctl_error_line(tmp_path: Path) -> None:
    path = write(tmp_path, "mesh.yaml", GOOD.replace("subset: v1}", "subset: v4}"))
    proc = run("analyze", "-f", path)
    assert proc.returncode == 79
    assert proc.stdout.splitlines() == [
        "Error [IST0101] (VirtualService default/reviews) Referenced host+subset in "
        'destinationrule not found: "reviews+v4"'
    ]


def test_references_across_several_files(tmp_path: Path) -> None:
    svc, dr, vs, pod = GOOD.split("---\n")
    paths = [write(tmp_path, f"{i}.yaml", doc) for i, doc in enumerate((svc, dr, vs, pod))]
    proc = run("analyze", "-f", paths[0], "--filename", paths[1], "-f", paths[2], "-f", paths[3])
    assert (proc.returncode, proc.stderr.splitlines()) == (0, [NO_ISSUES])
    proc = run("analyze", "-f", paths[0], "-f", paths[2], "-f", paths[3])
    assert proc.returncode == 79
    assert proc.stdout.startswith("Error [IST0101] (VirtualService default/reviews)")


def test_a_directory_stands_for_its_files(tmp_path: Path) -> None:
    write(tmp_path, "mesh.yaml", GOOD)
    proc = run("analyze", "-f", tmp_path)
    assert (proc.returncode, proc.stderr.splitlines()) == (0, [NO_ISSUES])


def test_warnings_alone_exit_zero(tmp_path: Path) -> None:
    text = GOOD.replace(
        "  - route: [{destination: {host: reviews, subset: v1}}]",
        "  - route: [{destination: {host: reviews, subset: v1}}]\n"
        "  - route: [{destination: {host: reviews}}]",
    )
    proc = run("analyze", "-f", write(tmp_path, "mesh.yaml", text))
    assert proc.returncode == 0
    assert proc.stdout.splitlines() == [
        "Warning [IST0130] (VirtualService default/reviews) VirtualService rule #1 not used "
        "(only the last rule can have no matches)."
    ]


def test_schema_error_names_file_document_resource_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "mesh.yaml", GOOD.replace("subset: v1}", "subset: v1}, weight: -1"))
    proc = run("analyze", "-f", path)
    assert proc.returncode == 79
    (line,) = proc.stdout.splitlines()
    assert line.startswith("Error [IST0106] (VirtualService default/reviews) Schema validation ")
    assert "spec.http[0].route[0].weight" in line
    assert line.endswith(f"[{path} document 3]")


def test_yaml_syntax_error_is_one_line_naming_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yaml", "apiVersion: v1\nkind: Service\nspec: [1, 2\n")
    proc = run("analyze", "-f", path)
    assert proc.returncode == 65  # istioctl's ExitDataError: a file could not be parsed
    (line,) = (proc.stdout + proc.stderr).splitlines()
    assert str(path) in line
    assert "line " in line


def test_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    proc = run("analyze", "-f", path)
    assert proc.returncode == 65  # istioctl's ExitDataError: a file could not be parsed
    (line,) = (proc.stdout + proc.stderr).splitlines()
    assert str(path) in line
    assert "No such file" in line


def test_unreadable_bytes_are_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00\x01")
    proc = run("analyze", "-f", path)
    assert proc.returncode == 65  # istioctl's ExitDataError: a file could not be parsed
    (line,) = (proc.stdout + proc.stderr).splitlines()
    assert str(path) in line


@pytest.mark.parametrize("args", [["analyze"], [], ["frobnicate"]])
def test_usage_errors_exit_two(args: list[str]) -> None:
    proc = run(*args)
    assert proc.returncode == 2
    assert "usage: inmesh" in proc.stderr


def test_json_and_yaml_output_carry_istioctls_fields(tmp_path: Path) -> None:
    import json

    import yaml

    path = write(tmp_path, "mesh.yaml", GOOD.replace("subset: v1}", "subset: v4}"))
    expected = {
        "code": "IST0101",
        "level": "Error",
        "origin": "VirtualService default/reviews",
        "message": 'Referenced host+subset in destinationrule not found: "reviews+v4"',
        "documentationUrl": "https://istio.io/latest/docs/reference/config/analysis/ist0101/"
        "?ref=istioctl-analyze",
    }
    proc = run("analyze", "-f", path, "-o", "json")
    # istioctl sets the exit status for the log format only.
    assert (proc.returncode, json.loads(proc.stdout)) == (0, [expected])
    proc = run("analyze", "-f", path, "--output", "yaml")
    assert (proc.returncode, yaml.safe_load(proc.stdout)) == (0, [expected])


def test_failure_and_output_thresholds(tmp_path: Path) -> None:
    text = GOOD.replace(
        "  - route: [{destination: {host: reviews, subset: v1}}]",
        "  - route: [{destination: {host: reviews, subset: v1}}]\n"
        "  - route: [{destination: {host: reviews}}]",
    )
    path = write(tmp_path, "mesh.yaml", text)
    assert run("analyze", "-f", path).returncode == 0
    proc = run("analyze", "-f", path, "--failure-threshold", "Warning")
    assert proc.returncode == 79
    assert proc.stdout.startswith("Warning [IST0130]")
    proc = run("analyze", "-f", path, "--output-threshold", "Error")
    assert (proc.returncode, proc.stdout, proc.stderr.splitlines()) == (0, "", [NO_ISSUES])


def test_one_invalid_document_does_not_hide_the_others(tmp_path: Path) -> None:
    bad = "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {x: 1}\n"
    path = write(tmp_path, "mesh.yaml", GOOD.replace("subset: v1}", "subset: v4}") + "---\n" + bad)
    proc = run("analyze", "-f", path)
    assert proc.returncode == 79
    assert [line.split(")")[0] for line in proc.stdout.splitlines()] == [
        "Error [IST0101] (VirtualService default/reviews",
        "Error [IST0106] (Gateway default/g",
    ]
