"""``import inmesh`` stays light: prometheus_client loads with the first MetricsHook."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
{statement}
print(json.dumps(sorted(sys.modules)))
"""


def loaded_after(statement: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(statement=statement)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    modules: list[str] = json.loads(result.stdout)
    return modules


def test_import_inmesh_loads_no_prometheus_client() -> None:
    assert not [m for m in loaded_after("import inmesh") if m.startswith("prometheus_client")]


def test_the_first_hook_loads_it() -> None:
    loaded = loaded_after("from inmesh.telemetry import MetricsHook; MetricsHook()")
    assert "prometheus_client" in loaded
