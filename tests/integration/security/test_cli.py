"""``inmesh ca`` and ``inmesh authz check`` as a user runs them: real subprocesses."""

from __future__ import annotations

import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cryptography import x509

from inmesh.security import TrustBundle, peer_identity

pytestmark = pytest.mark.integration

POLICIES = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: payments-from-front, namespace: shop}
spec:
  selector: {matchLabels: {app: payments}}
  rules:
  - from: [{source: {principals: [cluster.local/ns/shop/sa/front]}}]
    to: [{operation: {methods: [GET], paths: ["/pay/*"], ports: ["8080"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-debug, namespace: istio-system}
spec:
  action: DENY
  rules:
  - when: [{key: "request.headers[x-debug]", values: ["*"]}]
"""


def inmesh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inmesh", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    path = tmp_path / "policies.yaml"
    path.write_text(textwrap.dedent(POLICIES).lstrip())
    return path


BASE = ["authz", "check", "--namespace", "shop", "--labels", "app=payments", "--port", "8080"]


def test_allowed_exits_0(policies: Path) -> None:
    run = inmesh(
        *BASE,
        "-f",
        str(policies),
        "--principal",
        "cluster.local/ns/shop/sa/front",
        "--method",
        "GET",
        "--path",
        "/pay/42?x=1",
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("ALLOW  shop/payments-from-front")
    assert run.stderr == ""


def test_denied_exits_1(policies: Path) -> None:
    run = inmesh(*BASE, "-f", str(policies), "--method", "GET", "--path", "/pay/42")
    assert run.returncode == 1
    assert run.stdout.startswith("DENY  -  (no ALLOW policy matched)")
    run = inmesh(
        *BASE,
        "-f",
        str(policies),
        "--principal",
        "cluster.local/ns/shop/sa/front",
        "--method",
        "GET",
        "--path",
        "/pay/1",
        "--header",
        "X-Debug=1",
    )
    assert run.returncode == 1
    assert run.stdout.startswith("DENY  istio-system/no-debug")


def test_help_states_the_exit_status() -> None:
    run = inmesh("authz", "check", "--help")
    assert run.returncode == 0
    assert "0 when the request is allowed, 1 when it is denied" in run.stdout


def test_unsupported_policy_is_one_line_per_problem(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
        "metadata: {name: jwt, namespace: shop}\nspec:\n"
        "  rules: [{from: [{source: {requestPrincipals: ['*']}}]}]\n"
    )
    run = inmesh("authz", "check", "-f", str(path), "--namespace", "shop")
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        f"error: {path} (document 1): AuthorizationPolicy shop/jwt: "
        "spec.rules[0].from[0].source.requestPrincipals: requestPrincipals is not supported "
        "yet (it needs RequestAuthentication)"
    ]
    assert "Traceback" not in run.stderr


def test_missing_file_and_bad_ip_are_one_line(tmp_path: Path, policies: Path) -> None:
    run = inmesh("authz", "check", "-f", str(tmp_path / "nope.yaml"), "--namespace", "shop")
    assert run.returncode == 2 and len(run.stderr.splitlines()) == 1
    assert "Traceback" not in run.stderr
    run = inmesh(*BASE, "-f", str(policies), "--source-ip", "ten")
    assert run.returncode == 2 and "Traceback" not in run.stderr


def test_ca_init_and_issue(tmp_path: Path) -> None:
    ca_dir = tmp_path / "ca"
    run = inmesh("ca", "init", str(ca_dir))
    assert run.returncode == 0, run.stderr
    assert "created a root CA" in run.stdout
    again = inmesh("ca", "init", str(ca_dir))
    assert again.returncode == 1
    assert "refusing to overwrite" in again.stderr and "Traceback" not in again.stderr

    out = tmp_path / "front"
    run = inmesh(
        "ca",
        "issue",
        str(ca_dir),
        "-n",
        "shop",
        "--service-account",
        "front",
        "--out",
        str(out),
        "--ttl",
        "1h",
    )
    assert run.returncode == 0, run.stderr
    assert stat.S_IMODE((out / "key.pem").stat().st_mode) == 0o600
    chain = x509.load_pem_x509_certificates((out / "cert-chain.pem").read_bytes())
    from cryptography.hazmat.primitives import serialization

    leaf_der = chain[0].public_bytes(serialization.Encoding.DER)
    assert str(peer_identity(leaf_der)) == "spiffe://cluster.local/ns/shop/sa/front"
    lifetime = chain[0].not_valid_after_utc - chain[0].not_valid_before_utc
    assert lifetime.total_seconds() == 3600 + 120
    assert TrustBundle.from_file(out / "root-cert.pem").roots == (chain[-1],)
    again = inmesh(
        "ca", "issue", str(ca_dir), "-n", "shop", "--service-account", "front", "--out", str(out)
    )
    assert again.returncode == 1 and "refusing to overwrite" in again.stderr


def test_ca_issue_errors_are_one_line(tmp_path: Path) -> None:
    run = inmesh(
        "ca",
        "issue",
        str(tmp_path / "none"),
        "-n",
        "shop",
        "--service-account",
        "a",
        "--out",
        str(tmp_path / "o"),
    )
    assert run.returncode == 1
    assert run.stderr.startswith("error: ") and len(run.stderr.splitlines()) == 1
    run = inmesh(
        "ca",
        "issue",
        str(tmp_path),
        "-n",
        "Bad/ns",
        "--service-account",
        "a",
        "--out",
        str(tmp_path / "o"),
    )
    assert run.returncode != 0 and "Traceback" not in run.stderr


def test_dry_run_and_audit_lines(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
        "metadata: {name: would-deny, namespace: shop, annotations: {istio.io/dry-run: 'true'}}\n"
        "spec: {action: DENY, rules: [{}]}\n---\n"
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
        "metadata: {name: log, namespace: shop}\nspec: {action: AUDIT, rules: [{}]}\n"
    )
    run = inmesh("authz", "check", "-f", str(path), "--namespace", "shop", "--method", "GET")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "ALLOW  -  (no ALLOW policy applies to the workload)",
        "dry-run: DENY  shop/would-deny",
        "audit: shop/log",
    ]
