"""The CLI's HTTP client: the standard library's, so a command imports neither httpx nor
the configuration models."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from inmesh.registry import RegistryRejected, RegistryUnavailable
from inmesh.registry.cli._http import request


def test_apply_imports_neither_httpx_nor_pydantic() -> None:
    probe = (
        "import json, sys\n"
        "from inmesh.cli import build_parser\n"
        "args = build_parser().parse_args(['apply', '-f', 'x.yaml'])\n"
        "import inmesh.registry.cli._commands\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    assert "inmesh.registry.cli._commands" in loaded
    assert [m for m in loaded if m.split(".")[0] in ("httpx", "pydantic", "starlette")] == []


def test_no_answer_is_registry_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(RegistryUnavailable, match=rf"cannot reach the registry at .*:{port}"):
        request("GET", f"http://127.0.0.1:{port}", "/v1/healthz", headers={}, timeout=5)


def test_an_error_answer_keeps_its_messages_and_located_problems() -> None:
    body = {
        "code": 400,
        "reason": "BadRequest",
        "messages": ["document 1: bad", "document 2: worse"],
        "problems": [{"document": 1, "message": "bad"}, {"document": 2, "message": "worse"}],
    }
    exc = RegistryRejected.from_body(400, json.dumps(body).encode())
    assert exc.status == 400 and exc.messages == ("document 1: bad", "document 2: worse")
    assert [p["document"] for p in exc.problems] == [1, 2]
    body["problems"] = body["problems"][:1]  # not one per message: not used
    assert RegistryRejected.from_body(400, json.dumps(body).encode()).problems == ()
    assert RegistryRejected.from_body(502, b"<html>bad gateway</html>").messages == (
        "<html>bad gateway</html>",
    )
