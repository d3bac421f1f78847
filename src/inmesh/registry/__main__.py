"""``python -m inmesh.registry``: the registry's commands on their own (``registry serve``,
``apply``, ``get``, ``delete``, ``status``), as ``inmesh`` offers them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .cli import add_commands


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m inmesh.registry", description=__doc__.splitlines()[0] if __doc__ else None
    )
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
