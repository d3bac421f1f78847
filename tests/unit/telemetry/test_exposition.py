"""metrics_app: the text format at /stats/prometheus, and where it is not."""

from __future__ import annotations

import httpx
import pytest

from inmesh.telemetry import MetricsHook, metrics_app

from .records import record

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def get(hook: MetricsHook, path: str, method: str = "GET") -> httpx.Response:
    transport = httpx.ASGITransport(app=metrics_app(hook))
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as client:
        return await client.request(method, path)


async def test_metrics_at_istios_path() -> None:
    hook = MetricsHook()
    hook(record())
    response = await get(hook, "/stats/prometheus")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "istio_requests_total{" in response.text


async def test_other_paths_and_methods_are_refused() -> None:
    hook = MetricsHook()
    assert (await get(hook, "/stats")).status_code == 404
    assert (await get(hook, "/stats/prometheus", "POST")).status_code == 405


async def test_mounted_under_a_path_of_ones_choice() -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    hook = MetricsHook()
    hook(record())
    app = Starlette(routes=[Mount("/metrics", app=metrics_app(hook))])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        response = await client.get("/metrics/")
    assert response.status_code == 200
    assert "istio_requests_total{" in response.text
