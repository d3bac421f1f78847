"""``import inmesh`` stays light: prometheus_client loads when a MetricsHook's registry is read."""

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


def test_a_hook_records_without_it_and_its_registry_loads_it() -> None:
    recording = "from inmesh.telemetry import MetricsHook; hook = MetricsHook()"
    assert not [m for m in loaded_after(recording) if m.startswith("prometheus_client")]
    loaded = loaded_after(recording + "; hook.registry")
    assert "prometheus_client" in loaded


def test_import_inmesh_loads_no_opentelemetry() -> None:
    assert not [m for m in loaded_after("import inmesh") if m.startswith("opentelemetry")]


UNSAMPLED = """
import asyncio, httpx, inmesh
from inmesh.telemetry import Tracing

mesh = inmesh.Mesh(service="pp", tracing=Tracing(sampling=0))

async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})

async def main():
    transport = httpx.ASGITransport(inmesh.MeshMiddleware(app, mesh=mesh))
    async with httpx.AsyncClient(transport=transport, base_url="http://pp") as c:
        assert (await c.get("/")).status_code == 200

asyncio.run(main())
"""


def test_tracing_configured_but_unsampled_loads_no_opentelemetry() -> None:
    loaded = loaded_after(UNSAMPLED)
    assert "inmesh.telemetry._spans" in loaded  # the request went through the tracer
    assert not [m for m in loaded if m.startswith("opentelemetry")]
