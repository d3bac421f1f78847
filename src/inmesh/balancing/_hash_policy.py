"""Istio's ``consistentHash`` key (DestinationRule ``loadBalancer.consistentHash``): which
part of a request the ring hash or Maglev balancer hashes on."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from ._hashing import hash_value


class _Headers(Protocol):
    def get(self, name: str) -> str | None: ...


class HashSource(Protocol):
    """What a hash key is read from (routing's ``RequestView``)."""

    @property
    def headers(self) -> _Headers: ...

    def query_param(self, name: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class HashPolicy:
    """Istio's ``consistentHash`` key: a header, a cookie, a query parameter or the source IP.

    With ``httpCookie`` and a ``ttl``, a missing cookie is generated and set on the response
    (Envoy's cookie hash policy; ttl 0 makes it a session cookie).
    """

    header: str | None = None
    cookie: str | None = None
    cookie_path: str | None = None
    cookie_ttl: float | None = None
    query: str | None = None
    source_ip: str | None = None

    def key(self, req: HashSource) -> tuple[int | None, str | None]:
        """The hash of the request's key (None: no key, pick as without hashing), and the
        ``Set-Cookie`` value to add to the response when a cookie was generated."""
        if self.header is not None:
            v = req.headers.get(self.header)
            return (hash_value(v) if v is not None else None), None
        if self.query is not None:
            q = req.query_param(self.query)
            return (hash_value(q) if q is not None else None), None
        if self.source_ip is not None:
            return hash_value(self.source_ip), None
        if self.cookie is not None:
            c = _cookie(req.headers.get("cookie"), self.cookie)
            if c is not None:
                return hash_value(c), None
            if self.cookie_ttl is None:
                return None, None
            value = secrets.token_hex(8)
            attrs = [f"{self.cookie}={value}"]
            if self.cookie_path:
                attrs.append(f"Path={self.cookie_path}")
            if self.cookie_ttl > 0:
                attrs.append(f"Max-Age={int(self.cookie_ttl)}")
            attrs.append("HttpOnly")
            return hash_value(value), "; ".join(attrs)
        return None, None


def _cookie(header: str | None, name: str) -> str | None:
    if not header:
        return None
    for part in header.replace(",", ";").split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return None


def hash_policy(lb: Any, source_ip: str) -> HashPolicy | None:
    """The HashPolicy of a ``loadBalancer`` setting, or None without ``consistentHash``."""
    ch = getattr(lb, "consistent_hash", None) if lb is not None else None
    if ch is None:
        return None
    if ch.http_header_name:
        return HashPolicy(header=ch.http_header_name.lower())
    if ch.http_query_parameter_name:
        return HashPolicy(query=ch.http_query_parameter_name)
    if ch.use_source_ip:
        return HashPolicy(source_ip=source_ip)
    if ch.http_cookie is not None:
        return HashPolicy(
            cookie=ch.http_cookie.name,
            cookie_path=ch.http_cookie.path,
            cookie_ttl=ch.http_cookie.ttl,
        )
    return None
