"""SSL contexts for mesh mTLS (Istio's ISTIO_MUTUAL and inbound STRICT/PERMISSIVE).

- :func:`client_context`: presents the workload chain, trusts the mesh roots, verifies the
  chain (``CERT_REQUIRED``) but not the host name (``check_hostname=False``): the server is
  verified by its SPIFFE identity instead, right after the handshake (:func:`verify_peer`,
  or the httpcore backends in :mod:`._httpcore`).
- :func:`server_context`: presents the workload chain and requires a client certificate
  from the mesh roots. Istio requires it in PERMISSIVE as well as STRICT
  (pilot/pkg/security/authn/utils BuildInboundTLS sets ``RequireClientCertificate`` for every
  mode but DISABLE): PERMISSIVE differs by also accepting plaintext on the same port, told
  apart by the first byte (:func:`is_tls_client_hello`).
- Both: TLS 1.2 minimum, as Istio's sidecars.

Python's ``ssl`` loads a certificate and key only from files. :func:`load_cert_chain`
passes the key through an anonymous in-memory file (``memfd_create``) on Linux, so the key
never touches a disk; elsewhere through a 0600 file in a private temporary directory that
is removed at once.
"""

from __future__ import annotations

import os
import shutil
import ssl
import tempfile
from pathlib import Path

from ._bundle import TrustBundle
from ._keys import PrivateKey, private_key_pem

__all__ = [
    "TLS_HANDSHAKE",
    "client_context",
    "is_tls_client_hello",
    "load_cert_chain",
    "server_context",
]

#: The first byte of a TLS record carrying a handshake (a ClientHello opens every TLS
#: connection); an HTTP/1 request line or the HTTP/2 preface starts with a letter.
TLS_HANDSHAKE = 0x16


def is_tls_client_hello(first: bytes) -> bool:
    """Whether a connection whose first bytes are ``first`` is TLS (PERMISSIVE sniffing,
    like Envoy's ``tls_inspector``). ``first`` must hold at least one byte."""
    if not first:
        raise ValueError("need at least the first byte of the connection")
    return first[0] == TLS_HANDSHAKE


def load_cert_chain(ctx: ssl.SSLContext, chain_pem: bytes, key: PrivateKey) -> None:
    """``ctx.load_cert_chain`` from memory: ``chain_pem`` (leaf first) and ``key``."""
    key_pem = private_key_pem(key)
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is not None and Path("/proc/self/fd").is_dir():
        cert_fd = memfd_create("inmesh-cert", 0)
        key_fd = memfd_create("inmesh-key", 0)
        try:
            os.write(cert_fd, chain_pem)
            os.write(key_fd, key_pem)
            ctx.load_cert_chain(f"/proc/self/fd/{cert_fd}", f"/proc/self/fd/{key_fd}")
        finally:
            os.close(cert_fd)
            os.close(key_fd)
        return
    directory = tempfile.mkdtemp(prefix="inmesh-tls-")  # mode 0700
    try:
        cert_path = Path(directory, "cert.pem")
        key_path = Path(directory, "key.pem")
        cert_path.write_bytes(chain_pem)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key_pem)
        ctx.load_cert_chain(cert_path, key_path)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _common(ctx: ssl.SSLContext, chain_pem: bytes, key: PrivateKey, bundle: TrustBundle) -> None:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=bundle.pem().decode("ascii"))
    load_cert_chain(ctx, chain_pem, key)


def client_context(*, chain_pem: bytes, key: PrivateKey, bundle: TrustBundle) -> ssl.SSLContext:
    """An ISTIO_MUTUAL client context. Check the server's identity after the handshake."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # Istio verifies the SPIFFE URI SAN, not the host name
    _common(ctx, chain_pem, key, bundle)
    return ctx


def server_context(
    *,
    chain_pem: bytes,
    key: PrivateKey,
    bundle: TrustBundle,
    require_client_cert: bool = True,
) -> ssl.SSLContext:
    """An inbound mTLS context (STRICT, and the TLS side of PERMISSIVE): a client
    certificate from the mesh roots is required, as Istio requires it in both modes.

    ``require_client_cert=False`` makes it optional (``CERT_OPTIONAL``: a certificate that
    is sent must still verify); Istio has no such inbound mode, so nothing in the mesh
    uses it by default.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _common(ctx, chain_pem, key, bundle)
    if not require_client_cert:
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx
