"""The registry's local defaults: where it listens, the check of a registry URL, its data
directory and the admin token file in it. Shared by the server (which creates the token at
first start), the client, the CLI and ``inmesh serve`` (which read it on the same
machine); nothing here imports more than the standard library at import time.

The directory is ``--data DIR``, else ``$INMESH_DATA``, else ``~/.inmesh``; it is created
with mode 0700 and the token file with 0600.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = [
    "ADMIN_TOKEN_FILE",
    "DEFAULT_LISTEN",
    "DEFAULT_URL",
    "check_url",
    "default_data_dir",
    "ensure_admin_token",
    "new_secret",
    "read_admin_token",
]

ADMIN_TOKEN_FILE = "admin-token"

#: ``inmesh registry serve``'s address, and the URL the CLI uses when none is given.
DEFAULT_LISTEN = "127.0.0.1:15010"
DEFAULT_URL = f"http://{DEFAULT_LISTEN}"


def check_url(url: str) -> str:
    """``url`` without a trailing slash, or RegistryError when it is not an http(s) URL
    with a host (``127.0.0.1:15010`` alone is not: the scheme is required)."""
    from urllib.parse import urlsplit

    from ._errors import RegistryError

    try:
        parsed = urlsplit(url)
        parsed.port  # noqa: B018 - raises ValueError for a port that is not a number
    except (ValueError, TypeError, AttributeError) as exc:
        raise RegistryError(f"registry URL {url!r} is invalid: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise RegistryError(
            f"registry URL {url!r} is invalid: expected http://HOST:PORT or "
            "https://HOST:PORT (the scheme http or https is required)"
        )
    return url.rstrip("/")


def default_data_dir() -> Path:
    """``$INMESH_DATA``, else ``~/.inmesh``."""
    return Path(os.environ.get("INMESH_DATA") or Path.home() / ".inmesh")


def new_secret() -> str:
    """A fresh bearer token."""
    return "inm_" + secrets.token_urlsafe(32)


def read_admin_token(data_dir: str | os.PathLike[str]) -> str | None:
    """The admin token a registry created in ``data_dir``, if there is one."""
    try:
        return (Path(data_dir) / ADMIN_TOKEN_FILE).read_text().strip() or None
    except FileNotFoundError:
        return None


def ensure_admin_token(data_dir: str | os.PathLike[str]) -> str:
    """Read the admin token from ``data_dir``, creating it (mode 0600) on first start."""
    path = Path(data_dir) / ADMIN_TOKEN_FILE
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        existing = read_admin_token(data_dir)
        if existing is None:
            raise OSError(f"{path} is empty: remove it to have a new admin token made") from None
        return existing
    secret = new_secret()
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return secret
