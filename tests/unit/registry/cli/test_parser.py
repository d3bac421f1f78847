"""The registry's commands, as ``inmesh`` and ``python -m inmesh.registry`` offer them."""

from __future__ import annotations

import argparse

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
