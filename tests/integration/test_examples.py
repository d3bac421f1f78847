"""The newcomer's path, as written: the README's quickstart files are the example's files,
and the commands of the README and of examples/bookinfo/README.md run as shown (the only
change: free ports and a temporary directory instead of the fixed ones)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from tests.integration.registry.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
_BLOCK = re.compile(r"<!-- (?P<marker>[^>]+) -->\n```[a-z]*\n(?P<body>.*?)```", re.DOTALL)


def blocks(readme: Path) -> dict[str, str]:
    """The fenced blocks of ``readme`` that follow a ``<!-- marker -->`` line."""
    return {m["marker"]: m["body"] for m in _BLOCK.finditer(readme.read_text())}


def run_shell(script: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``bash -e`` in its own process group, which is killed afterwards whatever happened
    (so that background jobs of a failed script never outlive the test)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INMESH_")}
    proc = subprocess.Popen(
        ["bash", "-e", "-c", script],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def venv_link(root: Path) -> None:
    """``root/.venv``: this test run's environment, for the scripts' ``. .venv/bin/activate``."""
    (root / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)


def test_the_readme_shows_the_quickstart_files_as_they_are() -> None:
    found = {m: body for m, body in blocks(ROOT / "README.md").items() if m.startswith("file: ")}
    assert set(found) == {
        "file: examples/quickstart/mesh.yaml",
        "file: examples/quickstart/client.py",
    }
    for marker, body in found.items():
        assert body == (ROOT / marker.removeprefix("file: ")).read_text(), marker


def test_the_quickstart_runs_as_the_readme_says(tmp_path: Path) -> None:
    script = blocks(ROOT / "README.md")["run: quickstart"]
    ports = {"9081": str(free_port()), "9082": str(free_port())}
    example = tmp_path / "examples" / "quickstart"
    shutil.copytree(ROOT / "examples" / "quickstart", example)
    mesh_yaml = (example / "mesh.yaml").read_text()
    for fixed, free in ports.items():
        assert f"--port {fixed}" in script and f"http: {fixed}" in mesh_yaml
        script = script.replace(f"--port {fixed}", f"--port {free}")
        mesh_yaml = mesh_yaml.replace(f"http: {fixed}", f"http: {free}")
    (example / "mesh.yaml").write_text(mesh_yaml)
    venv_link(tmp_path)
    run = run_shell(script, tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["alice: reviews v1", "jason: reviews v2"], run.stderr


def test_the_bookinfo_walkthrough_runs_as_written(tmp_path: Path) -> None:
    script = blocks(ROOT / "examples" / "bookinfo" / "README.md")["run: bookinfo"]
    assert script.count("15010") == 2 and "/tmp/inmesh-demo" in script
    script = script.replace("15010", str(free_port()))
    script = script.replace("/tmp/inmesh-demo", str(tmp_path / "data"))
    workdir = tmp_path / "repo"  # the repository's examples, run from a root like it
    workdir.mkdir()
    (workdir / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    venv_link(workdir)
    run = run_shell(script, workdir, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "error" not in run.stderr.lower(), run.stderr
    for service in ("productpage", "reviews", "ratings"):
        assert service in run.stdout
    # five workloads in the background share one stdout: their lines may run together
    assert run.stdout.count("drained and stopped") == 5, run.stdout
    assert (tmp_path / "data" / "admin-token").is_file()
