"""The ``inmesh`` command line: ``analyze`` and ``demo``.

Errors are one clear line and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._errors import ConfigError, InmeshError


def _analyze(args: argparse.Namespace) -> int:
    from .analysis import analyze_files

    messages = analyze_files(args.filename)
    for m in messages:
        print(m.format())
    errors = sum(1 for m in messages if m.level == "Error")
    if not messages:
        print("✔ No validation issues found when analyzing the given files.")
    return 1 if errors else 0


def _demo(args: argparse.Namespace) -> int:
    from ._demo import run

    return run(requests=args.requests)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inmesh", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("analyze", help="validate Istio configuration files and their references")
    p.add_argument(
        "-f",
        "--filename",
        action="append",
        required=True,
        metavar="FILE",
        help="a YAML or JSON file (repeatable)",
    )
    p.set_defaults(func=_analyze)
    d = sub.add_parser("demo", help="a 90/10 canary between two local services, measured")
    d.add_argument("--requests", type=int, default=2000)
    d.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    except (InmeshError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
