"""The registry's commands, as ``inmesh`` and ``python -m inmesh.registry`` offer them."""

from __future__ import annotations

import argparse

import pytest

from inmesh.registry.cli import add_commands


def test_add_commands_sets_func_on_every_command() -> None:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command", required=True))
    for argv in (
        ["apply", "-f", "x.yaml"],
        ["get", "vs"],
        ["delete", "vs", "a"],
        ["status"],
        ["status", "--proxies"],
        ["registry", "serve"],
        ["registry", "token", "create", "-n", "shop"],
    ):
        assert callable(parser.parse_args(argv).func)


def test_serve_takes_the_ca_options() -> None:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["registry", "serve"])
    assert (args.ca_dir, args.trust_domain) == (None, "cluster.local")
    assert (args.cert_ttl, args.max_cert_ttl) == (24 * 3600.0, 90 * 24 * 3600.0)
    args = parser.parse_args(
        [
            *("registry", "serve", "--ca-dir", "/etc/ca", "--trust-domain", "example.org"),
            *("--cert-ttl", "1h", "--max-cert-ttl", "7200"),
        ]
    )
    assert (args.ca_dir, args.trust_domain) == ("/etc/ca", "example.org")
    assert (args.cert_ttl, args.max_cert_ttl) == (3600.0, 7200.0)


def test_serve_refuses_a_bad_duration(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command", required=True))
    with pytest.raises(SystemExit):
        parser.parse_args(["registry", "serve", "--cert-ttl", "-5"])
    assert "invalid duration '-5'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "given, expected", [(None, 4 * 1024 * 1024), ("16Mi", 16 * 1024**2), ("512Ki", 512 * 1024)]
)
def test_serve_takes_a_body_limit(given: str | None, expected: int) -> None:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command", required=True))
    extra = ["--max-body", given] if given else []
    assert parser.parse_args(["registry", "serve", *extra]).max_body == expected


@pytest.mark.parametrize("bad", ["0", "-1", "4MB", "Mi", "1.5Mi"])
def test_serve_refuses_a_bad_body_limit(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command", required=True))
    with pytest.raises(SystemExit):
        parser.parse_args(["registry", "serve", "--max-body", bad])
    assert "invalid size" in capsys.readouterr().err
