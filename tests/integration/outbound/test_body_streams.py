"""The shells' response bodies against a real uvicorn server: closing one releases the
request's mesh objects at once, without waiting for Python's cycle collector.

httpx ties a response and its stream into a reference cycle, so whatever the stream still
holds after ``close`` lives until the next garbage collection. The body stream drops its
``Call`` (and the upstream stream) when it is closed, so a request leaves no more for the
collector than a raw httpx one.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import inmesh
from inmesh.outbound._call import Call
from tests.integration.conftest import Workload, workloads_yaml

pytestmark = pytest.mark.anyio

URL = "http://ratings:9080/"
REQUESTS = 20


def _calls() -> int:
    """Call objects still alive, unreachable ones the collector has not freed included."""
    return sum(1 for o in gc.get_objects() if type(o) is Call)


@contextmanager
def _collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _mesh(bookinfo: list[Workload], tmp_path: Path) -> inmesh.Mesh:
    cfg = tmp_path / "mesh.yaml"
    cfg.write_text(workloads_yaml(bookinfo))
    return inmesh.Mesh(service="productpage", config=cfg)


def test_sync_closed_body_frees_its_call(bookinfo: list[Workload], tmp_path: Path) -> None:
    with _mesh(bookinfo, tmp_path) as mesh, mesh.sync_client() as client:
        assert client.get(URL).status_code == 200  # the pool and its connection exist
        with _collector_off():
            before = _calls()
            statuses = [client.get(URL).status_code for _ in range(REQUESTS)]
            with client.stream("GET", URL) as streamed:  # closed before its body is read
                assert streamed.status_code == 200
            after = _calls()
    assert statuses == [200] * REQUESTS
    assert after == before


async def test_async_closed_body_frees_its_call(bookinfo: list[Workload], tmp_path: Path) -> None:
    async with _mesh(bookinfo, tmp_path) as mesh, mesh.client() as client:
        assert (await client.get(URL)).status_code == 200
        with _collector_off():
            before = _calls()
            statuses = [(await client.get(URL)).status_code for _ in range(REQUESTS)]
            async with client.stream("GET", URL) as streamed:
                assert streamed.status_code == 200
            after = _calls()
    assert statuses == [200] * REQUESTS
    assert after == before


def test_sync_body_counts_bytes_and_finishes_once(bookinfo: list[Workload], tmp_path: Path) -> None:
    records: list[inmesh.RequestRecord] = []
    mesh = _mesh(bookinfo, tmp_path)
    mesh.add_hook(records.append)
    with mesh, mesh.sync_client() as client:
        r = client.get(URL)
        r.close()  # a second close: no second record
        r.stream.close()
    assert len(records) == 1
    assert records[0].status == 200
    assert records[0].response_bytes == len(r.content) > 0
