"""An apply costs what it changes, and a too-large one is refused before it is parsed:
``inmesh apply`` against a real registry process (SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Registry, spawn_registry
from .yamls import bookinfo, service_entry

pytestmark = pytest.mark.integration

LIMIT = 1024 * 1024  # the registry's --max-body in these tests


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    registry = spawn_registry(tmp_path_factory.mktemp("cost") / "data", "--max-body", "1Mi")
    yield registry
    registry.stop()


def revision(registry: Registry) -> int:
    """The store's revision (healthz shows the last pushed one, a debounce later)."""
    with registry.http() as c:
        return int(c.get("/v1/resources").json()["revision"])


def test_an_unchanged_apply_bumps_no_revision_and_a_change_writes_only_itself(
    cli, served: Registry, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "mesh.yaml"
    path.write_text(bookinfo(90) + "---\n" + service_entry("ratings"))
    status, out, err = cli("apply", "-f", str(path))
    assert status == 0, err
    assert out.count(" created") == 4
    created = revision(served)
    status, out, err = cli("apply", "-f", str(path))
    assert status == 0, err
    assert out.count(" unchanged") == 4 and "created" not in out
    assert revision(served) == created  # nothing written, nothing pushed
    path.write_text(bookinfo(70) + "---\n" + service_entry("ratings"))
    status, out, err = cli("apply", "-f", str(path))
    assert status == 0, err
    actions = dict(line.rsplit(" ", 1) for line in out.splitlines())
    assert actions.pop("VirtualService default/reviews") == "configured"
    assert set(actions.values()) == {"unchanged"}
    assert revision(served) == created + 1


def test_the_limit_is_in_healthz(served: Registry) -> None:
    with served.http(token=None) as c:
        assert c.get("/v1/healthz").json()["maxBody"] == LIMIT


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_limit_is_413_before_it_is_parsed(served: Registry, chunked: bool) -> None:
    # invalid YAML: a parsed body would be a 400, so the 413 shows the size came first
    body = b"a: [" * (LIMIT // 4 + 1)
    content: bytes | Iterator[bytes] = (
        iter([body[i : i + 65536] for i in range(0, len(body), 65536)]) if chunked else body
    )
    with served.http() as c:
        r = c.post("/v1/apply", content=content)
    assert r.status_code == 413, r.text
    assert r.json()["reason"] == "PayloadTooLarge"
    assert "over the limit of 1048576 bytes" in r.json()["messages"][0]


def test_the_cli_refuses_a_file_over_the_limit_before_parsing_it(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: [" * (LIMIT // 4 + 1))  # a syntax error, if it were parsed
    status, _, err = cli("apply", "-f", str(path))
    assert status == 1
    assert "more than the registry accepts in one request (1048576 bytes)" in err
    assert "syntax" not in err and "Traceback" not in err


def test_a_small_apply_does_not_ask_for_the_limit(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from inmesh.registry.cli import _commands

    paths: list[str] = []
    real = _commands.request

    def recording(method: str, base: str, path: str, **kwargs: Any) -> Any:
        paths.append(path)
        return real(method, base, path, **kwargs)

    monkeypatch.setattr(_commands, "request", recording)
    path = tmp_path / "small.yaml"
    path.write_text(service_entry("small"))
    status, _, err = cli("apply", "-f", str(path))
    assert status == 0, err
    assert paths == ["/v1/apply"]
