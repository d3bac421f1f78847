"""What the registry's CLI commands do (their parsers are in ``_cli.py``).

Each returns an exit status. Every failure is reported as ``error: ...`` lines on stderr,
one per message the registry gave, and exit status 1: never a traceback.
"""

from __future__ import annotations

import argparse
import calendar
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..._errors import ConfigError, InmeshError
from ...config._files import expand_paths
from ...config._kinds import MODELLED as KINDS  # the kind names, without their models
from .._data import ADMIN_TOKEN_FILE, DEFAULT_URL, check_url, default_data_dir, read_admin_token
from .._errors import RegistryRejected
from ._http import request
from ._input import Input, read_input

__all__ = [
    "cmd_apply",
    "cmd_delete",
    "cmd_get",
    "cmd_serve",
    "cmd_status",
    "cmd_token_create",
    "cmd_token_list",
    "cmd_token_revoke",
    "resolve_kind",
    "safe",
]

# kubectl-style names: singular, plural and short names, case-insensitive.
_SHORT = {
    "vs": "VirtualService",
    "dr": "DestinationRule",
    "se": "ServiceEntry",
    "we": "WorkloadEntry",
    "gw": "Gateway",
    "pa": "PeerAuthentication",
    "ap": "AuthorizationPolicy",
    "svc": "Service",
    "sa": "ServiceAccount",
    "deploy": "Deployment",
}


def resolve_kind(name: str) -> str:
    lowered = name.lower()
    for kind in KINDS:
        k = kind.lower()
        if lowered in (k, k + "s", k[:-1] + "ies" if k.endswith("y") else k + "es"):
            return kind
    if lowered in _SHORT:
        return _SHORT[lowered]
    raise InmeshError(
        f"unknown kind {name!r}; expected one of {', '.join(sorted(KINDS))} "
        f"(or {', '.join(sorted(_SHORT))})"
    )


def safe(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Errors become ``error:`` lines and exit status 1."""

    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except ConfigError as exc:
            for problem in exc.problems:
                print(f"error: {problem}", file=sys.stderr)
        except RegistryRejected as exc:
            for message in exc.messages:
                print(f"error: {message}", file=sys.stderr)
        except (InmeshError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
        except KeyboardInterrupt:
            return 130
        return 1

    run.__doc__ = fn.__doc__
    return run


def _token(args: argparse.Namespace) -> str:
    """``--token``, else ``$INMESH_TOKEN``, else the admin token in the data directory;
    when there is none, an error that says where it looked and how to give one."""
    if args.token:
        return str(args.token)
    if os.environ.get("INMESH_TOKEN"):
        return os.environ["INMESH_TOKEN"]
    if args.data:
        data, given = Path(args.data), "--data"
    elif os.environ.get("INMESH_DATA"):
        data, given = default_data_dir(), "$INMESH_DATA"
    else:
        data, given = default_data_dir(), "the default data directory"
    token = read_admin_token(data)
    if token is None:
        raise InmeshError(
            f"no token: --token is not given, $INMESH_TOKEN is not set, and there is no "
            f"admin token at {data / ADMIN_TOKEN_FILE} ({given}). Pass --token TOKEN, set "
            "$INMESH_TOKEN, or point --data DIR (or $INMESH_DATA) at the directory the "
            "registry was started with (inmesh registry serve --data DIR)"
        )
    return token


def _call(
    args: argparse.Namespace,
    method: str,
    path: str,
    *,
    params: Mapping[str, str] | None = None,
    json_body: Any = None,
    content: bytes | None = None,
) -> Any:
    url = check_url(args.registry or os.environ.get("INMESH_REGISTRY") or DEFAULT_URL)
    if json_body is not None:
        content = json.dumps(json_body).encode()
    return request(
        method,
        url,
        path,
        headers={"Authorization": f"Bearer {_token(args)}"},
        params=params,
        body=content,
    )


#: Input below this size is sent without asking the registry for its body limit first.
_SMALL_INPUT = 256 * 1024


def _check_size(args: argparse.Namespace, sizes: Mapping[str, int]) -> None:
    """Refuse input larger than the registry's request limit before reading and validating
    it (which takes seconds for tens of megabytes): the limit is in ``/v1/healthz``."""
    total = sum(sizes.values())
    if total <= _SMALL_INPUT:
        return
    try:
        limit = _call(args, "GET", "/v1/healthz").get("maxBody")
    except RegistryRejected:
        return  # a registry that does not say: it answers 413 itself
    if isinstance(limit, int) and total > limit:
        names = ", ".join(sizes)
        raise InmeshError(
            f"{names}: {total} bytes of configuration, more than the registry accepts in "
            f"one request ({limit} bytes): apply it in parts (one file or directory at a time)"
        )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # load_config names the file it cannot read


def _documents(args: argparse.Namespace, paths: Sequence[str]) -> Input:
    """The files' documents, parsed (after a size check against the registry's limit,
    before anything is parsed); the registry validates them (see ``_input``)."""
    files = [p for p in paths if p != "-"]
    sizes = {str(f): _size(f) for f in expand_paths(tuple(files))}
    stdin = sys.stdin.read() if "-" in paths else None
    if stdin is not None:
        sizes["<stdin>"] = len(stdin.encode())
    _check_size(args, sizes)
    return read_input(files, stdin)


def _send(args: argparse.Namespace, path: str, given: Input, params: dict[str, str]) -> Any:
    """POST the documents; problems the registry finds in them come back located in the
    files (a :class:`ConfigError`), the other refusals as they are."""
    try:
        return _call(args, "POST", path, params=params, content=_json_body(given.docs))
    except RegistryRejected as exc:
        if exc.problems:
            raise ConfigError(given.problems(exc.problems)) from None
        raise


def _json_body(docs: Sequence[Mapping[str, Any]]) -> bytes:
    """A compact JSON body."""
    return json.dumps(docs, separators=(",", ":"), ensure_ascii=False).encode()


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the registry until interrupted."""
    from ..server import ServeOptions, serve

    endpoints = [e.strip() for e in (args.etcd_endpoints or "").split(",") if e.strip()]
    return serve(
        ServeOptions(
            listen=args.listen,
            data=Path(args.data) if args.data else None,
            store=args.store,
            etcd_endpoints=endpoints,
            etcd_prefix=args.etcd_prefix,
            ca_dir=Path(args.ca_dir) if args.ca_dir else None,
            trust_domain=args.trust_domain,
            cert_ttl=args.cert_ttl,
            max_cert_ttl=args.max_cert_ttl,
            max_body=args.max_body,
        )
    )


def cmd_token_create(args: argparse.Namespace) -> int:
    body = {"namespace": args.namespace}
    if args.service_account:
        body["serviceAccount"] = args.service_account
    data = _call(args, "POST", "/v1/tokens", json_body=body)
    print(
        f"created {data['id']} for namespace {data['namespace']}"
        + (f", service account {data['serviceAccount']}" if data["serviceAccount"] else "")
        + " (the token is shown only once)",
        file=sys.stderr,
    )
    print(data["token"])
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    for t in _call(args, "GET", "/v1/tokens")["items"]:
        print(
            f"{t['id']}\t{t['role']}\t{t['namespace'] or '*'}\t"
            f"{t['serviceAccount'] or '*'}\t{t['created']}"
        )
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    _call(args, "DELETE", f"/v1/tokens/{args.id}")
    print(f"token {args.id} revoked")
    return 0


def _print_results(data: Mapping[str, Any], suffix: str = "") -> None:
    for w in data.get("warnings", ()):
        print(w, file=sys.stderr)
    for r in data["results"]:
        print(f"{r['kind']} {r['namespace']}/{r['name']} {r['action']}{suffix}")


def cmd_apply(args: argparse.Namespace) -> int:
    params = {"dryRun": "true"} if args.dry_run else {}
    if args.namespace:
        params["namespace"] = args.namespace
    data = _send(args, "/v1/apply", _documents(args, args.filename), params)
    _print_results(data, " (dry run)" if args.dry_run else "")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    params = {"namespace": args.namespace} if args.namespace else {}
    if args.filename:
        if args.kind or args.name:
            raise InmeshError("give either -f FILE or KIND NAME, not both")
        if args.ignore_not_found:
            params["ignoreNotFound"] = "true"
        data = _send(args, "/v1/delete", _documents(args, args.filename), params)
    elif args.kind and args.name:
        kind = resolve_kind(args.kind)
        try:
            data = _call(
                args, "DELETE", f"/v1/resources/{kind}/{args.namespace or 'default'}/{args.name}"
            )
        except RegistryRejected as exc:
            if exc.status == 404 and args.ignore_not_found:
                return 0
            raise
    else:
        raise InmeshError("give -f FILE, or KIND and NAME")
    _print_results(data)
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    kind = resolve_kind(args.kind)
    namespace = None if args.all_namespaces else (args.namespace or "default")
    if args.name:
        items = [_call(args, "GET", f"/v1/resources/{kind}/{namespace or 'default'}/{args.name}")]
    else:
        params = {"kind": kind, **({"namespace": namespace} if namespace else {})}
        items = _call(args, "GET", "/v1/resources", params=params)["items"]
    if args.output == "json":
        out = items[0] if args.name else {"apiVersion": "v1", "kind": "List", "items": items}
        print(json.dumps(out, indent=2))
    elif args.output == "yaml":
        import yaml

        print(yaml.safe_dump_all(items, sort_keys=False).rstrip())
    elif not items:
        print(
            f"No {kind} resources found" + (f" in namespace {namespace}." if namespace else "."),
            file=sys.stderr,
        )
    else:
        from ..store._base import REGISTERED_ANNOTATION
        from ._status import format_age

        now = time.time()
        rows = [("NAMESPACE", "NAME", "RESOURCE-VERSION", "AGE")]
        for doc in items:
            meta = doc.get("metadata", {})
            created = meta.get("creationTimestamp")
            age = format_age(now - _parse_time(created)) if created else "-"
            name = meta.get("name", "") + (
                " (registered)" if REGISTERED_ANNOTATION in (meta.get("annotations") or {}) else ""
            )
            rows.append((meta.get("namespace", ""), name, meta.get("resourceVersion", ""), age))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            print("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0


def _parse_time(value: str) -> float:
    return float(calendar.timegm(time.strptime(value, "%Y-%m-%dT%H:%M:%SZ")))


def cmd_status(args: argparse.Namespace) -> int:
    if args.proxies:
        from ._proxy_status import render_proxies

        print(render_proxies(_call(args, "GET", "/v1/proxies"), namespace=args.namespace))
        return 0
    from ._status import render_ca, render_status, status_rows

    params = {"namespace": args.namespace} if args.namespace else {}
    docs = _call(args, "GET", "/v1/resources", params=params)["items"]
    registrations = _call(args, "GET", "/v1/workloads", params=params)["items"]
    services, endpoints = status_rows(docs, registrations)
    try:
        ca: Mapping[str, Any] | None = _call(args, "GET", "/v1/ca/roots")
    except RegistryRejected as exc:
        if exc.status != 501:
            raise
        ca = None
    print(render_status(services, endpoints))
    print()
    print(render_ca(ca))
    return 0
