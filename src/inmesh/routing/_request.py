"""The parts of an outbound request that routing looks at, read once per request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl


class HeaderSource:
    """What matching needs of request headers: a value by lower-case name, or None.

    Several values of one header are joined with ``,`` as Envoy presents them to header
    matchers.
    """

    __slots__ = ("_map", "_raw")

    def __init__(self, raw: list[tuple[bytes, bytes]] | Mapping[str, str]) -> None:
        self._map: dict[str, str] | None = None
        self._raw = raw

    def get(self, name: str) -> str | None:
        m = self._map
        if m is None:
            m = self._map = self._build()
        return m.get(name)

    def _build(self) -> dict[str, str]:
        raw = self._raw
        if isinstance(raw, Mapping):
            return {k.lower(): v for k, v in raw.items()}
        out: dict[str, str] = {}
        for k, v in raw:
            key = k.decode("latin-1").lower()
            val = v.decode("latin-1")
            out[key] = f"{out[key]},{val}" if key in out else val
        return out


@dataclass(slots=True)
class RequestView:
    """Method, scheme, authority, path, query and headers of one request, as matched.

    ``path`` excludes the query string: Envoy matches Istio's ``uri`` against the path with
    the query removed. ``authority`` is the Host header value (``host[:port]``); ``host``
    is the URL host, lower case, and ``port`` the URL port (explicit or the scheme default).
    """

    method: str
    scheme: str
    authority: str
    host: str
    port: int
    explicit_port: bool
    path: str
    query: str
    headers: HeaderSource
    _params: dict[str, str] | None = None

    def query_param(self, name: str) -> str | None:
        """The first value of a query parameter, or None (Envoy's query_parameter match)."""
        params = self._params
        if params is None:
            params = {}
            for k, v in parse_qsl(self.query, keep_blank_values=True):
                params.setdefault(k, v)
            self._params = params
        return params.get(name)
