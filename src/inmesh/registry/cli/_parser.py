"""The registry's commands for the ``inmesh`` CLI: ``registry serve``, ``registry token``,
``apply``, ``get``, ``delete`` and ``status``.

``add_commands(subparsers)`` adds them to the ``inmesh`` parser (``inmesh.cli``) and to
``python -m inmesh.registry``. Every client command talks to ``--registry``, else
``$INMESH_REGISTRY``, else http://127.0.0.1:15010, with ``--token``, else ``$INMESH_TOKEN``,
else the admin token in the data directory (``--data``, ``$INMESH_DATA``, ``~/.inmesh``).
Building the parser imports no command's code: each runs its module when chosen.
"""

from __future__ import annotations

import argparse

from .._data import DEFAULT_LISTEN, DEFAULT_URL
from ._commands import (
    cmd_apply,
    cmd_delete,
    cmd_get,
    cmd_serve,
    cmd_status,
    cmd_token_create,
    cmd_token_list,
    cmd_token_revoke,
    safe,
)

__all__ = ["add_commands"]


def _duration(text: str) -> float:
    """Seconds (``3600``) or an Istio duration (``24h``, ``30m``), positive."""
    from ...config._duration import parse_duration

    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = parse_duration(text)
        except ValueError:
            seconds = -1.0
    if not seconds > 0:
        raise argparse.ArgumentTypeError(
            f"invalid duration {text!r} (positive seconds, or like 24h, 30m)"
        )
    return seconds


_UNITS = {"": 1, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}


def _size(text: str) -> int:
    """Bytes (``4194304``) or Kubernetes' binary suffixes (``4Mi``, ``512Ki``), positive."""
    number = text.rstrip("KMGi")
    unit = text[len(number) :]
    if unit not in _UNITS or not number.isdigit() or int(number) <= 0:
        raise argparse.ArgumentTypeError(f"invalid size {text!r} (bytes, or like 16Mi, 512Ki)")
    return int(number) * _UNITS[unit]


def _client_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--registry",
        metavar="URL",
        help=f"registry URL (default: $INMESH_REGISTRY or {DEFAULT_URL})",
    )
    common.add_argument(
        "--token",
        help="bearer token (default: $INMESH_TOKEN, else the admin token in the data directory)",
    )
    common.add_argument(
        "--data",
        metavar="DIR",
        help="the registry's data directory (its --data), whose admin token is used "
        "when no token is given (default: $INMESH_DATA or ~/.inmesh)",
    )
    return common


def _registry(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    common: argparse.ArgumentParser,
) -> None:
    registry = sub.add_parser("registry", help="run the registry, manage its tokens")
    rsub = registry.add_subparsers(dest="registry_command", required=True)
    s = rsub.add_parser("serve", help="run the registry (SQLite or etcd storage)")
    s.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"address to serve on (default {DEFAULT_LISTEN}; port 0: any)",
    )
    s.add_argument(
        "--data",
        metavar="DIR",
        help="data directory: database and admin token (default: $INMESH_DATA or ~/.inmesh)",
    )
    s.add_argument("--store", choices=("sqlite", "etcd"), default="sqlite")
    s.add_argument(
        "--etcd-endpoints", metavar="URL,...", help="etcd client URLs, e.g. http://127.0.0.1:2379"
    )
    s.add_argument("--etcd-prefix", default="/inmesh", help="key prefix in etcd")
    s.add_argument(
        "--ca-dir",
        metavar="DIR",
        help="plug in CA certificates (Istio's layout: ca-cert.pem, ca-key.pem, "
        "root-cert.pem, cert-chain.pem); default: a self-signed root made in DATA/ca on "
        "the first start. Required with --store etcd (every replica signs with one CA)",
    )
    s.add_argument(
        "--trust-domain",
        default="cluster.local",
        help="trust domain of the identities issued, spiffe://TD/ns/NS/sa/SA "
        "(default cluster.local)",
    )
    s.add_argument(
        "--cert-ttl",
        type=_duration,
        default=24 * 3600.0,
        metavar="DURATION",
        help="lifetime of a workload certificate when the request names none "
        "(seconds, or like 24h; default 24h)",
    )
    s.add_argument(
        "--max-cert-ttl",
        type=_duration,
        default=90 * 24 * 3600.0,
        metavar="DURATION",
        help="the longest lifetime a workload may ask for; longer requests are refused "
        "(default 2160h, 90 days)",
    )
    s.add_argument(
        "--max-body",
        type=_size,
        default=4 * 1024 * 1024,
        metavar="BYTES",
        help="the largest request body accepted (an apply); larger ones get 413 before "
        "they are read (bytes, or like 16Mi; default 4Mi, about 2,000 services of "
        "configuration)",
    )
    s.set_defaults(func=safe(cmd_serve))
    token = rsub.add_parser("token", help="join tokens for workloads")
    tsub = token.add_subparsers(dest="token_command", required=True)
    c = tsub.add_parser(
        "create", parents=[common], help="create a join token for a namespace (prints it once)"
    )
    c.add_argument("--namespace", "-n", required=True)
    c.add_argument("--service-account", help="restrict the token to one service account")
    c.set_defaults(func=safe(cmd_token_create))
    lst = tsub.add_parser("list", parents=[common], help="list tokens (not their secrets)")
    lst.set_defaults(func=safe(cmd_token_list))
    rv = tsub.add_parser("revoke", parents=[common], help="revoke a token by id")
    rv.add_argument("id")
    rv.set_defaults(func=safe(cmd_token_revoke))


def add_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``registry``, ``apply``, ``get``, ``delete`` and ``status`` to ``subparsers``;
    each sets ``func(args) -> int``."""
    common = _client_options()
    _registry(subparsers, common)
    a = subparsers.add_parser(
        "apply", parents=[common], help="create or update resources in the registry"
    )
    a.add_argument(
        "-f",
        "--filename",
        action="append",
        required=True,
        metavar="FILE",
        help="YAML or JSON file or directory, '-' for stdin (repeatable); all "
        "files are applied in one transaction",
    )
    a.add_argument("-n", "--namespace", help="namespace for resources without one")
    a.add_argument("--dry-run", action="store_true", help="validate only")
    a.set_defaults(func=safe(cmd_apply))
    g = subparsers.add_parser("get", parents=[common], help="show resources")
    g.add_argument("kind", help="kind, plural or short name (vs, dr, se, we, gw, svc...)")
    g.add_argument("name", nargs="?")
    g.add_argument("-n", "--namespace", help="namespace (default: default)")
    g.add_argument("-A", "--all-namespaces", action="store_true")
    g.add_argument("-o", "--output", choices=("yaml", "json"))
    g.set_defaults(func=safe(cmd_get))
    d = subparsers.add_parser("delete", parents=[common], help="delete resources")
    d.add_argument("kind", nargs="?")
    d.add_argument("name", nargs="?")
    d.add_argument(
        "-f",
        "--filename",
        action="append",
        metavar="FILE",
        help="delete what these files define (one transaction)",
    )
    d.add_argument("-n", "--namespace")
    d.add_argument("--ignore-not-found", action="store_true")
    d.set_defaults(func=safe(cmd_delete))
    st = subparsers.add_parser(
        "status", parents=[common], help="services, versions, endpoints, health and age"
    )
    st.add_argument("-n", "--namespace")
    st.add_argument(
        "--proxies",
        action="store_true",
        help="instead: every watching client, the revision it applied (SYNCED or "
        "STALE) and what it rejected, as istioctl proxy-status",
    )
    st.set_defaults(func=safe(cmd_status))
