"""The CLI against the registry as a real process: ``python -m inmesh.registry``."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import Registry, free_port, spawn_registry
from .yamls import bookinfo, virtual_service

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    registry = spawn_registry(tmp_path_factory.mktemp("cli") / "data")
    yield registry
    registry.stop()


def test_apply_get_status_delete(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bookinfo.yaml"
    path.write_text(bookinfo(90))
    status, out, _ = cli("apply", "-f", str(path))
    assert status == 0 and "VirtualService default/reviews created" in out
    status, out, _ = cli("get", "virtualservices")
    assert status == 0 and out.splitlines()[0].split() == [
        "NAMESPACE",
        "NAME",
        "RESOURCE-VERSION",
        "AGE",
    ]
    status, out, _ = cli("get", "vs", "reviews", "-o", "json")
    assert json.loads(out)["spec"]["http"][0]["route"][0]["weight"] == 90
    status, out, _ = cli("get", "dr", "-o", "yaml", "-A")
    assert "kind: DestinationRule" in out
    status, out, _ = cli("status")
    assert status == 0 and "reviews.default.svc.cluster.local" in out
    status, out, _ = cli("delete", "vs", "reviews")
    assert status == 0 and "deleted" in out
    status, out, _ = cli("delete", "-f", str(path), "--ignore-not-found")
    assert status == 0 and "ServiceEntry default/reviews deleted" in out


def test_errors_are_one_line_each_and_exit_1(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.yaml"
    bad.write_text(virtual_service(weight=150))
    status, _, err = cli("apply", "-f", str(bad))
    assert status == 1 and err.startswith("error: ") and "weight" in err
    assert "Traceback" not in err
    status, _, err = cli("get", "frobnicators")
    assert status == 1 and err.count("\n") == 1 and "unknown kind" in err
    status, _, err = cli("delete", "vs", "missing")
    assert status == 1 and err == "error: VirtualService default/missing not found\n"
    status, _, err = cli("get", "vs", "--registry", f"http://127.0.0.1:{free_port()}")
    assert status == 1 and "cannot reach the registry" in err and err.count("\n") == 1
    status, _, err = cli("get", "vs", "--token", "inm_wrong")
    assert status == 1 and "unknown or revoked token" in err


def test_token_create_and_use(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    status, out, err = cli("registry", "token", "create", "--namespace", "shop")
    assert status == 0 and out.startswith("inm_") and "shown only once" in err
    token = out.strip()
    assert cli("get", "vs", "-n", "shop", "--token", token)[0] == 0
    path = tmp_path / "vs.yaml"
    path.write_text(virtual_service(namespace="shop"))
    status, _, err = cli("apply", "-f", str(path), "--token", token)
    assert status == 1 and "needs the admin token" in err
    status, out, _ = cli("registry", "token", "list")
    assert "join" in out and "shop" in out


def test_serve_restarts_with_its_data(tmp_path: Path) -> None:
    data = tmp_path / "data"
    registry = spawn_registry(data)
    try:
        assert registry.apply(bookinfo(70)).status_code == 200
    finally:
        assert registry.process is not None
        registry.process.send_signal(signal.SIGTERM)
        assert registry.process.wait(15) == 0
    again = spawn_registry(data)
    try:
        assert again.admin == registry.admin  # the token file is kept
        with again.http() as c:
            got = c.get("/v1/resources/VirtualService/default/reviews").json()
        assert got["spec"]["http"][0]["route"][0]["weight"] == 70
    finally:
        again.stop()


def test_serve_reports_bad_options_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "inmesh.registry",
            "registry",
            "serve",
            "--data",
            str(tmp_path),
            "--store",
            "etcd",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr == "error: --store etcd needs --etcd-endpoints URL[,URL...]\n"


def test_without_a_token_the_error_says_where_it_looked(  # type: ignore[no-untyped-def]
    cli, served: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "elsewhere"
    monkeypatch.setenv("INMESH_DATA", str(empty))
    status, _, err = cli("get", "vs")
    assert status == 1 and err.count("\n") == 1
    assert f"no admin token at {empty / 'admin-token'} ($INMESH_DATA)" in err
    for hint in ("--token TOKEN", "$INMESH_TOKEN", "--data DIR", "registry serve --data DIR"):
        assert hint in err
    status, _, err = cli("get", "vs", "--data", str(empty))
    assert status == 1 and f"{empty / 'admin-token'} (--data)" in err
    # The registry's own data directory, given with --data, holds the token to use.
    monkeypatch.delenv("INMESH_DATA")
    status, _, err = cli("get", "vs", "-A", "--data", str(served.data))
    assert status == 0, err


def test_a_registry_url_without_a_scheme_is_refused(cli) -> None:  # type: ignore[no-untyped-def]
    status, _, err = cli("get", "vs", "--registry", "127.0.0.1:15010")
    assert status == 1 and err.count("\n") == 1
    assert "registry URL '127.0.0.1:15010' is invalid" in err and "http or https" in err


def test_status_shows_the_ca(cli, served: Registry) -> None:  # type: ignore[no-untyped-def]
    with served.http() as c:
        root = c.get("/v1/ca/roots").json()["roots"][0]
    status, out, _ = cli("status")
    assert status == 0
    ca_line = next(line for line in out.splitlines() if line.startswith("CA: "))
    assert ca_line.startswith("CA: trust domain cluster.local, signing certificate O=cluster.local")
    assert f"(self-signed {served.data / 'ca'})" in ca_line
    rows = out.split(ca_line, 1)[1].strip().splitlines()
    assert rows[0].split() == ["ROOT", "FINGERPRINT", "SUBJECT", "EXPIRES"]
    assert rows[1].split() == [root["fingerprint"], "O=cluster.local", root["notAfter"]]


def test_a_bad_file_is_refused_whole_with_file_document_and_field_named(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path
) -> None:
    """The CLI does not validate: the registry's answer locates each problem in the
    request, and the CLI names the file, the document and (for a List item) the item."""
    path = tmp_path / "mixed.yaml"
    path.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: skipped}\n---\n"
        + virtual_service(name="located-ok", weight=100)
        + "---\napiVersion: v1\nkind: List\nitems:\n"
        + "".join(
            "- " + line.replace("\n", "\n  ").rstrip() + "\n"
            for line in [virtual_service(name="located-bad", weight=150)]
        )
    )
    status, _, err = cli("apply", "-f", str(path))
    assert status == 1 and "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) >= 1 and all(line.startswith("error: ") for line in lines)
    assert lines[0].startswith(f"error: {path} (document 3): VirtualService default/located-bad:")
    assert "items[0].spec.http[0].route" in lines[0] and "weight" in lines[0]
    status, out, _ = cli("get", "vs")
    assert "located-ok" not in out  # nothing applied
    path.write_text(virtual_service(name="located-ok", weight=100) + "---\n- 3\n")
    status, _, err = cli("apply", "-f", str(path))
    assert status == 1
    assert err == (
        f"error: {path} (document 2): expected a mapping with apiVersion, kind, metadata "
        "and spec, got list\n"
    )


def test_problems_the_registry_finds_across_documents_name_the_files(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path
) -> None:
    one, two = tmp_path / "one.yaml", tmp_path / "two.yaml"
    one.write_text(virtual_service(name="twice", weight=100))
    two.write_text(virtual_service(name="twice", weight=100))
    status, _, err = cli("apply", "-f", str(one), "-f", str(two), "-n", "default")
    assert status == 1
    assert err == (
        f"error: {two} (document 1): VirtualService default/twice: appears twice in one apply\n"
    )
    status, _, err = cli("apply", "-f", str(one), "-n", "elsewhere")
    assert status == 1 and err.startswith(f"error: {one} (document 1): metadata.namespace")


def test_apply_from_stdin_names_stdin(  # type: ignore[no-untyped-def]
    cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(virtual_service(name="piped", weight=150)))
    status, _, err = cli("apply", "-f", "-")
    assert status == 1 and err.startswith("error: <stdin> (document 1): VirtualService")
    monkeypatch.setattr(sys, "stdin", io.StringIO(virtual_service(name="piped", weight=100)))
    status, out, _ = cli("apply", "-f", "-")
    assert status == 0 and out == "VirtualService default/piped created\n"
