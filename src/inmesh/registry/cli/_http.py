"""The CLI's one HTTP request to the registry, with the standard library's ``http.client``.

A command makes one or two requests and exits; httpx (and its imports, about 0.05 s of a
command's start-up) buys it nothing. As the CLI's httpx calls did: no proxy from the
environment, no redirects followed, certificates of an ``https`` registry verified against
certifi's bundle (httpx's default).
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from .._errors import RegistryRejected, RegistryUnavailable

__all__ = ["request"]


def _connection(url: urllib.parse.SplitResult, timeout: float) -> http.client.HTTPConnection:
    host = url.hostname or ""
    if url.scheme == "https":
        import ssl

        try:
            import certifi

            context = ssl.create_default_context(cafile=certifi.where())
        except ImportError:  # pragma: no cover - certifi comes with httpx
            context = ssl.create_default_context()
        return http.client.HTTPSConnection(host, url.port, timeout=timeout, context=context)
    return http.client.HTTPConnection(host, url.port, timeout=timeout)


def request(
    method: str,
    base: str,
    path: str,
    *,
    headers: Mapping[str, str],
    params: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 30.0,
) -> Any:
    """``method`` ``base + path`` (``base`` checked by ``check_url``); the JSON answer, or
    :class:`RegistryRejected` for a 4xx/5xx answer with every message the registry gave,
    or :class:`RegistryUnavailable` when there is no answer."""
    url = urllib.parse.urlsplit(base)
    target = (url.path.rstrip("/") + path) or "/"
    if params:
        target += "?" + urllib.parse.urlencode(params)
    all_headers = {"Accept": "application/json", **headers}
    if body is not None:
        all_headers.setdefault("Content-Type", "application/json")
    try:
        connection = _connection(url, timeout)
        try:
            connection.request(method, target, body=body, headers=all_headers)
            response = connection.getresponse()
            status, data = response.status, response.read()
        finally:
            connection.close()
    except (OSError, http.client.HTTPException) as exc:
        raise RegistryUnavailable(
            f"cannot reach the registry at {base}: {exc or type(exc).__name__}"
        ) from None
    if status >= 400:
        raise RegistryRejected.from_body(status, data)
    try:
        return json.loads(data)
    except ValueError:
        raise RegistryUnavailable(
            f"the registry at {base} answered {status} with a body that is not JSON"
        ) from None
