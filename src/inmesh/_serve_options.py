"""The checks ``inmesh serve`` runs on its options before anything starts.

Every option is checked and every problem reported, each naming its option, so that a bad
value is a one-line error before uvicorn, the Mesh or the registration exist (and never a
traceback from a half-started server).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from .config._names import check_fqdn, check_labels, check_namespace, is_ip

__all__ = ["ServeOptions"]

# Kubernetes IsDNS1123Label: the Service name clients use as a host (lower-case).
_DNS1123_LABEL_RE = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")
# The registry's bounds for a registration's ttl (registry/_api_workloads.py).
_MIN_TTL, _MAX_TTL = 1.0, 300.0


@dataclass(frozen=True)
class ServeOptions:
    """What ``inmesh serve`` was asked to run."""

    app: str
    service: str
    version: str | None
    namespace: str
    host: str
    port: int
    registry: str
    drain: float
    ttl: float
    service_account: str | None = None
    admin_port: int = 0
    access_log: str = "off"

    def problems(self) -> list[str]:
        """Every problem with these options, one message each (empty: all valid)."""
        found: list[str] = []
        module, colon, attribute = self.app.partition(":")
        if not (module and colon and attribute):
            found.append(f"APP {self.app!r}: expected module:attribute, e.g. reviews:app")
        if not 0 <= self.admin_port <= 65535:
            found.append(f"--admin-port {self.admin_port}: not a port (0-65535, 0: any free one)")
        if self.access_log not in ("off", "text", "json"):
            found.append(f"--access-log {self.access_log!r}: expected off, text or json")
        sa = self.service_account
        if sa is not None and (len(sa) > 253 or not _DNS1123_LABEL_RE.fullmatch(sa)):
            found.append(f"--service-account {sa!r}: not a valid Kubernetes service account name")
        if len(self.service) > 63 or not _DNS1123_LABEL_RE.fullmatch(self.service):
            found.append(
                f"--service {self.service!r}: not a valid DNS-1123 label (lower-case letters,"
                " digits and '-', starting and ending with a letter or digit, at most 63)"
            )
        if self.version is not None:
            if not self.version:
                found.append("--version: must not be empty (omit it for no version label)")
            for _, message in check_labels({"version": self.version}):
                found.append(f"--version: {message}")
        if (problem := check_namespace(self.namespace)) is not None:
            found.append(f"--namespace: {problem}")
        if not is_ip(self.host) and check_fqdn(self.host) is not None:
            found.append(f"--host {self.host!r}: not an IP address or a host name")
        if not 0 <= self.port <= 65535:
            found.append(f"--port {self.port}: must be between 0 (any free port) and 65535")
        found.extend(_url_problems(self.registry))
        if not (math.isfinite(self.drain) and self.drain >= 0):
            found.append(f"--drain {self.drain:g}: must be a number of seconds, 0 or more")
        if not (math.isfinite(self.ttl) and _MIN_TTL <= self.ttl <= _MAX_TTL):
            found.append(
                f"--ttl {self.ttl:g}: must be between {_MIN_TTL:g} and {_MAX_TTL:g} seconds"
            )
        return found


def _url_problems(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        valid = valid and (parts.port or 0) >= 0  # reading the port checks it
    except ValueError as exc:
        return [f"--registry {url!r}: not a valid URL ({exc})"]
    return [] if valid else [f"--registry {url!r}: not a valid URL (expected http://HOST:PORT)"]
