"""``inmesh ca init|issue`` and ``inmesh authz check``.

``add_commands(subparsers)`` adds them to the ``inmesh`` parser (``inmesh.cli``). Each
command returns an exit status; errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path

from .._errors import ConfigError, InmeshError
from ._identity import DEFAULT_TRUST_DOMAIN, SpiffeId

__all__ = ["add_commands"]

_AUTHZ_EPILOG = """\
exit status: 0 when the request is allowed, 1 when it is denied, 2 on an error (a file
that cannot be loaded, a policy using what is not supported yet, a bad option).
"""


def _ttl(text: str) -> float:
    from ..config._duration import parse_duration

    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_duration(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid duration {text!r} (seconds, or like 24h, 30m)"
        ) from None


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def cmd_ca_init(args: argparse.Namespace) -> int:
    from ._ca import CertificateAuthority

    ca = CertificateAuthority.init_root(
        args.dir, trust_domain=args.trust_domain, key_type=args.key_type
    )
    root = ca.certificate
    print(f"created a root CA in {args.dir} ({root.subject.rfc4514_string()}, ", end="")
    print(f"valid until {root.not_valid_after_utc:%Y-%m-%d})")
    return 0


def cmd_ca_issue(args: argparse.Namespace) -> int:
    from ._ca import CertificateAuthority
    from ._keys import private_key_pem
    from ._pem import write_private, write_public

    ca = CertificateAuthority.load(args.dir)
    identity = SpiffeId.of(args.namespace, args.service_account, trust_domain=args.trust_domain)
    out = Path(args.out)
    names = ("key.pem", "cert-chain.pem", "root-cert.pem")
    existing = [n for n in names if (out / n).exists()]
    if existing:
        raise InmeshError(f"{out}: already holds {', '.join(existing)}; refusing to overwrite")
    key, issued = ca.issue(identity, key_type=args.key_type, ttl=args.ttl)
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private(out / "key.pem", private_key_pem(key))
    write_public(out / "cert-chain.pem", issued.chain_pem)
    write_public(out / "root-cert.pem", issued.root_pem)
    hours = issued.lifetime / 3600
    print(f"issued {identity} to {out} (key.pem, cert-chain.pem, root-cert.pem; {hours:g} h)")
    return 0


def cmd_authz_check(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ._authz import check
    from ._authz_request import AuthzRequest

    try:
        for value in (args.source_ip, args.destination_ip):
            if value is not None:
                ipaddress.ip_address(value)  # a typo is an error even if no policy reads it
        request = AuthzRequest(
            method=args.method,
            path=args.path,
            host=args.host,
            port=args.port,
            headers=list(args.header or ()),
            source_principal=args.principal,
            source_namespace=args.source_namespace,
            source_ip=args.source_ip,
            destination_ip=args.destination_ip,
            sni=args.sni,
        )
        decision = check(
            load_config(*args.filename),
            namespace=args.namespace,
            labels=dict(args.labels or ()),
            request=request,
            root_namespace=args.root_namespace,
        )
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    except (InmeshError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    verdict = "ALLOW" if decision.allowed else "DENY"
    print(f"{verdict}  {decision.policy or '-'}  ({decision.reason})")
    if decision.dry_run_policy is not None or decision.dry_run_allowed is not None:
        would = "ALLOW" if decision.dry_run_allowed else "DENY"
        print(f"dry-run: {would}  {decision.dry_run_policy or '-'}")
    if decision.audit_policy is not None:
        print(f"audit: {decision.audit_policy}")
    return 0 if decision.allowed else 1


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``ca`` and ``authz`` to the ``inmesh`` command's subparsers."""
    ca = sub.add_parser("ca", help="a local mesh CA: make a root, issue workload certificates")
    csub = ca.add_subparsers(dest="ca_command", required=True)
    init = csub.add_parser(
        "init", help="create a self-signed root CA in DIR (refuses to overwrite one)"
    )
    init.add_argument("dir", metavar="DIR")
    init.add_argument("--trust-domain", default=DEFAULT_TRUST_DOMAIN)
    init.add_argument("--key-type", choices=("ec-p256", "rsa-2048"), default="ec-p256")
    init.set_defaults(func=cmd_ca_init)
    issue = csub.add_parser(
        "issue", help="issue a workload key and certificate from the CA in DIR into --out"
    )
    issue.add_argument("dir", metavar="DIR", help="a CA directory (ca init's, or plug-in files)")
    issue.add_argument("-n", "--namespace", required=True)
    issue.add_argument("--service-account", required=True)
    issue.add_argument("--out", required=True, metavar="DIR2", help="where to write the files")
    issue.add_argument("--trust-domain", default=DEFAULT_TRUST_DOMAIN)
    issue.add_argument("--key-type", choices=("ec-p256", "rsa-2048"), default="ec-p256")
    issue.add_argument(
        "--ttl", type=_ttl, default=0.0, help="lifetime: seconds or 24h/30m (default 24h)"
    )
    issue.set_defaults(func=cmd_ca_issue)

    authz = sub.add_parser("authz", help="evaluate AuthorizationPolicies offline")
    asub = authz.add_subparsers(dest="authz_command", required=True)
    chk = asub.add_parser(
        "check",
        help="would this request be allowed? (prints ALLOW or DENY and the policy)",
        description="Evaluate a request against AuthorizationPolicies, as Istio would.",
        epilog=_AUTHZ_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    chk.add_argument(
        "-f", "--filename", action="append", required=True, metavar="FILE", help="repeatable"
    )
    chk.add_argument("-n", "--namespace", required=True, help="the workload's namespace")
    chk.add_argument(
        "--labels",
        type=_pair,
        action="append",
        metavar="KEY=VALUE",
        help="a workload label (repeatable)",
    )
    chk.add_argument("--principal", help="the peer, e.g. cluster.local/ns/a/sa/x (implies mTLS)")
    chk.add_argument("--source-namespace", help="the peer's namespace (default: the principal's)")
    chk.add_argument("--method")
    chk.add_argument("--path", help="the request target as sent (query allowed)")
    chk.add_argument("--host", help="the Host header as sent")
    chk.add_argument("--port", type=int, help="the destination port")
    chk.add_argument(
        "--header", type=_pair, action="append", metavar="NAME=VALUE", help="repeatable"
    )
    chk.add_argument("--source-ip")
    chk.add_argument("--destination-ip")
    chk.add_argument("--sni")
    chk.add_argument("--root-namespace", default="istio-system")
    chk.set_defaults(func=cmd_authz_check)
