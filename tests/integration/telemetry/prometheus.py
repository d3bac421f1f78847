"""A real Prometheus for the tests (Debian's ``prometheus`` package), configured to find
the mesh through the registry's HTTP service discovery, and its query API."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.integration.registry.conftest import Registry

PROMETHEUS = shutil.which("prometheus")
NO_PROMETHEUS = (
    "no prometheus binary on PATH (Debian: `apt-get install -y prometheus`; "
    ".ci/run installs it where the package is available)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_prometheus(tmp_path: Path, registry: Registry) -> tuple[subprocess.Popen[bytes], str]:
    config = tmp_path / "prometheus.yml"
    config.write_text(
        f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: inmesh
    http_sd_configs:
      - url: {registry.url}/v1/sd/prometheus
        refresh_interval: 1s
        # type spelled out: Prometheus 2.42's http_sd sends the credentials without it
        authorization: {{type: Bearer, credentials: "{registry.admin}"}}
"""
    )
    port = free_port()
    assert PROMETHEUS is not None
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("wb"),
    )
    return process, f"http://127.0.0.1:{port}"


def query(base: str, promql: str) -> list[dict[str, Any]]:
    try:
        response = httpx.get(f"{base}/api/v1/query", params={"query": promql}, trust_env=False)
    except httpx.TransportError:
        return []
    if response.status_code != 200:
        return []
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result
