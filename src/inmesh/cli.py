"""The inmesh command line: analyze, serve, demo, and the registry's commands.

``registry serve|token``, ``apply``, ``get``, ``delete`` and ``status`` talk to the registry.

Errors are one clear line and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._errors import ConfigError, InmeshError

#: istioctl's exit statuses (istioctl/cmd/sysexits.go).
EXIT_DATA_ERROR = 65  # some files could not be parsed
EXIT_ANALYZER_FOUND_ISSUES = 79  # a message at or above --failure-threshold


def _analyze(args: argparse.Namespace) -> int:
    import json

    from .analysis import analyze, at_least

    result = analyze(args.filename)
    # istioctl: unparsed files are reported apart; the output threshold filters what is
    # printed, the failure threshold (over every message) decides the exit status.
    shown = [m for m in result.messages if at_least(m.level, args.output_threshold)]
    for m in result.unparsed:
        print(m.format(), file=sys.stderr)
    if args.output == "json":
        print(json.dumps([m.to_dict() for m in shown], indent="\t"))
    elif args.output == "yaml":
        import yaml

        print(yaml.safe_dump([m.to_dict() for m in shown], sort_keys=True), end="")
    else:
        for m in shown:
            print(m.format())
    if not shown and not result.unparsed:
        msg = "\u2714 No validation issues found when analyzing the given files."
        print(msg, file=sys.stderr)
    if args.output != "log":
        return 0  # istioctl sets the exit status for the log format only
    if any(at_least(m.level, args.failure_threshold) for m in result.messages):
        return EXIT_ANALYZER_FOUND_ISSUES
    return EXIT_DATA_ERROR if result.unparsed else 0


def _demo(args: argparse.Namespace) -> int:
    from ._demo import run

    return run(seconds=args.seconds)


def _serve(args: argparse.Namespace) -> int:
    from ._serve import serve

    return serve(
        args.app,
        service=args.service,
        version=args.version,
        namespace=args.namespace,
        host=args.host,
        port=args.port,
        registry=args.registry,
        token=args.token,
        config=args.filename or (),
        drain=args.drain,
        cache_file=args.cache_file,
        ttl=args.ttl,
        service_account=args.service_account,
        admin_port=args.admin_port,
        access_log=args.access_log,
    )


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
    levels = ["Info", "Warning", "Error"]
    p.add_argument(
        "-o",
        "--output",
        choices=["log", "json", "yaml"],
        default="log",
        help="output format (default log: istioctl's lines)",
    )
    p.add_argument(
        "--failure-threshold",
        choices=levels,
        default="Error",
        help="the level at which a message sets exit status 79 (default Error)",
    )
    p.add_argument(
        "--output-threshold",
        choices=levels,
        default="Info",
        help="the level at which a message is printed (default Info)",
    )
    p.set_defaults(func=_analyze)
    s = sub.add_parser("serve", help="run an ASGI app under uvicorn as a mesh workload")
    s.add_argument("app", help="the application, as module:attribute")
    s.add_argument("--service", required=True, help="the service this workload belongs to")
    s.add_argument("--version", help="its version label (subsets select on it)")
    s.add_argument("-n", "--namespace", default="default")
    s.add_argument(
        "--admin-port",
        type=int,
        default=0,
        help="port of the metrics listener (/stats/prometheus; default 0: any free one, "
        "printed at start and registered as http-envoy-prom)",
    )
    s.add_argument(
        "--access-log",
        choices=("off", "text", "json"),
        default="off",
        help="one access-log line per request on stdout, Istio's TEXT or JSON format "
        "(default off; Telemetry resources can also turn it on)",
    )
    s.add_argument(
        "--service-account",
        default=None,
        help="the service account in the workload's SPIFFE identity (default: the service)",
    )
    s.add_argument("--host", default="127.0.0.1", help="address to bind and register")
    s.add_argument("--port", type=int, default=0, help="port to bind (0: an ephemeral one)")
    s.add_argument(
        "--registry", help="registry URL (default $INMESH_REGISTRY or http://127.0.0.1:15010)"
    )
    s.add_argument("--token", help="join token (default $INMESH_TOKEN, else the local admin token)")
    s.add_argument(
        "-f",
        "--filename",
        action="append",
        metavar="FILE",
        help="local configuration, combined with the registry's",
    )
    s.add_argument(
        "--drain",
        type=float,
        default=2.0,
        help="seconds to keep serving after deregistering (default 2)",
    )
    s.add_argument("--cache-file", help="where to keep the last registry view")
    s.add_argument(
        "--ttl",
        type=float,
        default=10.0,
        help="registration lifetime without a heartbeat, seconds (default 10)",
    )
    s.set_defaults(func=_serve)
    d = sub.add_parser("demo", help="a registry, Bookinfo-like services and a moving canary")
    d.add_argument("--seconds", type=float, default=6.0, help="traffic per phase")
    d.set_defaults(func=_demo)
    from .registry import add_commands
    from .security._cli import add_commands as add_security_commands

    add_commands(sub)
    add_security_commands(sub)
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
