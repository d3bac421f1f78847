"""Certificate rotation under load on both sides: short-lived workload certificates renewed
by the client and by the server while traffic flows over mesh mTLS, counting failed
requests (the goal is zero).

    .venv/bin/python benchmarks/rotation.py [--seconds 60] [--ttl 20] [--tasks 4] [--quick]

The real product end to end, every process on 127.0.0.1:

- a registry, ``inmesh registry serve --data DIR --cert-ttl TTL``: its CA signs every
  workload certificate with a lifetime of ``--ttl`` seconds;
- the server, ``inmesh serve _rotation_app:app --service bench``, a subprocess: it gets
  its certificate from the registry's CA, renews it at half-life with jitter (Istio's
  rule), and its listener moves each new handshake onto the current certificate
  (``TLSHolder.server_front``); it registers with Istio's ``security.istio.io/tlsMode:
  istio`` label;
- the client, ``Mesh(registry=URL, token=ADMIN)`` in this process, with its own
  certificate from the same CA, renewed the same way; it reaches ``bench`` by Istio's auto
  mTLS (no DestinationRule), and its connection pools are keyed by certificate
  generation, so every client rotation also makes new handshakes with the server's
  current certificate.

``--tasks`` asyncio tasks send sequential GETs for ``--seconds``. A request fails on an
exception, a status other than 200, or an answer that was not mutual TLS from this client
(the app answers with ``scope["inmesh.peer"]``'s principal, which must be the client's
identity). Printed: requests, failed, the client's certificate generations, the server's
(as the app reports them: generation and validity of the certificate it holds) and the
distinct server leaf certificates the client saw in its TLS handshakes (new connections
are made when the client rotates, so a server certificate that lived only between two
client rotations, typically the last one, is not seen there). Exit status 1 if
any request failed or either side never rotated (a run shorter than half the lifetime
proves nothing), 2 if the processes could not be started. Every process is stopped at the
end, also on errors. ``--quick``: 20 s of traffic with 8 s certificates.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import hashlib
import os
import queue
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from _common import HERE, machine, table

import inmesh

SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "bench", "namespace": "default"},
    "spec": {"ports": [{"port": 80, "name": "http"}], "selector": {"app": "bench"}},
}


# -- processes ---------------------------------------------------------------------------


@contextlib.contextmanager
def process(
    cmd: list[str], env: dict[str, str], ready: str, timeout: float = 30.0
) -> Iterator[subprocess.Popen[str]]:
    """Run ``cmd`` (stdout and stderr merged); return once a line contains ``ready``. On
    exit, whatever happened: SIGTERM, then SIGKILL after 20 s. Its output is kept read (a
    full pipe never blocks it) and its last lines are in the error if it does not start."""
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        # one reader for the process's whole life: a full pipe never blocks it, and a
        # process that hangs silently still meets the timeout below
        threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
        tail: collections.deque[str] = collections.deque(maxlen=20)
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None or not line:  # silent past the timeout, or exited
                why = f"not ready after {timeout:g} s" if line is None else "exited"
                raise RuntimeError(f"{' '.join(cmd[2:5])}: {why}; its output:\n{''.join(tail)}")
            tail.append(line)
            if ready in line:
                break
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _pump(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)
    lines.put("")  # end of output


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def inmesh_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "inmesh", *args]


# -- load --------------------------------------------------------------------------------


@dataclass
class Seen:
    outcomes: Counter[str] = field(default_factory=Counter)
    #: the client's certificate generations: seconds into the run when first used
    client_generations: dict[int, float] = field(default_factory=dict)
    #: (generation, not_before, not_after) of the server's certificate, as the app reports it
    server_certificates: set[tuple[int, float, float]] = field(default_factory=set)
    #: SHA-256 of the server leaf certificates presented in the client's handshakes
    server_leaves: set[str] = field(default_factory=set)
    #: the first failures: seconds into the run, client generation, what happened
    failures: list[tuple[float, int, str]] = field(default_factory=list)


def server_leaf(response: httpx.Response) -> str | None:
    """The SHA-256 of the certificate the server presented on this response's connection."""
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    obj = stream.get_extra_info("ssl_object")
    if not isinstance(obj, ssl.SSLObject | ssl.SSLSocket):
        return None
    der = obj.getpeercert(binary_form=True)
    return hashlib.sha256(der).hexdigest() if der else None


async def load(mesh: inmesh.Mesh, seconds: float, tasks: int) -> Seen:
    seen = Seen()
    holder = mesh.tls
    if holder is None:
        raise RuntimeError("the client Mesh has no workload certificate from the registry")
    me = holder.current().identity.principal
    start = time.monotonic()
    stop = start + seconds

    def note(what: str) -> None:
        if len(seen.failures) < 10:
            seen.failures.append((time.monotonic() - start, holder.generation, what))

    def check(r: httpx.Response) -> str:
        if r.status_code != 200:
            note(f"status {r.status_code}: {r.text[:300]!r}")
            return f"status {r.status_code}"
        body: dict[str, Any] = r.json()
        if body.get("peer") != me:
            note(f"peer {body.get('peer')}")
            return f"not mTLS from {me} (peer {body.get('peer')})"
        seen.server_certificates.add((body["generation"], body["not_before"], body["not_after"]))
        leaf = server_leaf(r)
        if leaf is not None:
            seen.server_leaves.add(leaf)
        return "ok"

    async def worker(client: httpx.AsyncClient) -> None:
        while time.monotonic() < stop:
            seen.client_generations.setdefault(holder.generation, time.monotonic() - start)
            try:
                r = await client.get("http://bench/")
                seen.outcomes[check(r)] += 1
            except Exception as exc:  # a failure is what this benchmark counts
                note(repr(exc)[:300])
                seen.outcomes[f"{type(exc).__name__}: {exc}"[:100]] += 1

    async with mesh.client(timeout=10.0) as client:
        await asyncio.gather(*(worker(client) for _ in range(tasks)))
    return seen


# -- the run -----------------------------------------------------------------------------


def run(seconds: float, ttl: float, tasks: int) -> Seen:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="inmesh-rotation-") as data:
        env = {
            **os.environ,
            "INMESH_REGISTRY": url,
            "INMESH_DATA": data,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
        registry = inmesh_cmd(
            "registry", "serve", "--listen", f"127.0.0.1:{port}", "--data", data,
            "--cert-ttl", f"{ttl:g}s",
        )  # fmt: skip
        with process(registry, env, ready="inmesh registry serving"):
            token = (Path(data) / "admin-token").read_text().strip()
            env["INMESH_TOKEN"] = token
            r = httpx.post(
                f"{url}/v1/apply",
                json=SERVICE,
                headers={"authorization": f"Bearer {token}"},
                timeout=10.0,
            )
            if r.status_code != 200:
                raise RuntimeError(f"registry refused the Service: {r.status_code} {r.text}")
            server = inmesh_cmd(
                "serve", "_rotation_app:app", "--service", "bench", "--drain", "0",
            )  # fmt: skip
            with process(server, env, ready="inmesh serve:"):
                mesh = inmesh.Mesh(service="bench-client", registry=url, token=token)
                with mesh:
                    return asyncio.run(load(mesh, seconds, tasks))


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--ttl", type=float, default=20.0, help="certificate lifetime (s)")
    ap.add_argument("--tasks", type=int, default=4)
    ap.add_argument("--quick", action="store_true", help="20 s of traffic, 8 s certificates")
    a = ap.parse_args()
    if a.quick:
        a.seconds, a.ttl = 20.0, 8.0
    if a.seconds <= 0 or a.ttl <= 0 or a.tasks < 1:
        ap.error("--seconds and --ttl must be positive, --tasks at least 1")
    # SIGTERM unwinds like Ctrl-C, so the subprocesses are stopped on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        seen = run(a.seconds, a.ttl, a.tasks)
    except (RuntimeError, OSError, httpx.HTTPError, inmesh.InmeshError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # every process is already stopped
        sys.exit(130)
    total = sum(seen.outcomes.values())
    failed = total - seen.outcomes["ok"]
    server_generations = len({g for g, _, _ in seen.server_certificates})
    print(f"{a.seconds:g} s of traffic, {a.tasks} tasks, certificates of {a.ttl:g} s on both sides")
    print(f"machine: {machine()}")
    rows = [
        ["requests", total],
        ["failed", failed],
        ["client certificate generations", len(seen.client_generations)],
        ["server certificate generations", server_generations],
        ["server leaf certificates in handshakes", len(seen.server_leaves)],
        *([[f"  {k}", v] for k, v in seen.outcomes.items() if k != "ok"]),
    ]
    print(table(["", "count"], rows))
    # a run in which one side never rotated proves nothing about rotation
    unrotated = [
        side
        for side, n in (("client", len(seen.client_generations)), ("server", server_generations))
        if n < 2
    ]
    rotations = sorted(seen.client_generations.values())[1:]
    print("client rotations at:", ", ".join(f"{t:.1f} s" for t in rotations) or "none")
    for t, generation, what in seen.failures:
        print(f"failure at {t:.1f} s (client generation {generation}): {what}")
    for side in unrotated:
        print(f"error: the {side} certificate never rotated: run longer than half the ttl")
    sys.exit(1 if failed or not total or unrotated else 0)


if __name__ == "__main__":
    main()
