"""The parts of an outbound request that routing looks at, read once per request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl


class HeaderSource:
    """What matching needs of request headers: a value by lower-case name, or None.

    Several values of one header are joined with ``,`` as Envoy presents them to header
    matchers. A lookup scans the raw pairs (a request has a handful of headers and a route
    asks for one or two), comparing only names of the right length: nothing is decoded but
    the value asked for.
    """

    __slots__ = ("raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]] | Mapping[str, str]) -> None:
        if type(raw) is not list and isinstance(raw, Mapping):  # (a list: no ABC check)
            raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in raw.items()]
        #: the request's header pairs as sent (read once per request)
        self.raw: list[tuple[bytes, bytes]] = raw

    def get(self, name: str) -> str | None:
        wanted = _NAMES.get(name)
        if wanted is None:
            wanted = _encoded(name)
        size = len(wanted)
        found: bytes | None = None
        for key, value in self.raw:
            if len(key) == size and (key == wanted or key.lower() == wanted):
                found = value if found is None else found + b"," + value
        return None if found is None else found.decode("latin-1")


# Header names asked for, encoded once (routes ask for the same few on every request).
_NAMES: dict[str, bytes] = {}


def _encoded(name: str) -> bytes:
    if len(_NAMES) >= 1024:
        _NAMES.clear()
    wanted = _NAMES[name] = name.encode("latin-1")
    return wanted


@dataclass(slots=True)
class RequestView:
    """Method, scheme, authority, path, query and headers of one request, as matched.

    ``path`` excludes the query string: Envoy matches Istio's ``uri`` against the path with
    the query removed. ``authority`` is the Host header value (``host[:port]``); ``host``
    is the URL host, lower case, and ``port`` the URL port (explicit or the scheme default).
    """

    method: str
    scheme: str
    host: str
    port: int
    explicit_port: bool
    path: str
    query: str
    headers: HeaderSource
    _params: dict[str, str] | None = None

    @property
    def authority(self) -> str:
        """The Host header (``host[:port]``), or the URL host without one."""
        return self.headers.get("host") or self.host

    def query_param(self, name: str) -> str | None:
        """The first value of a query parameter, or None (Envoy's query_parameter match)."""
        params = self._params
        if params is None:
            params = {}
            for k, v in parse_qsl(self.query, keep_blank_values=True):
                params.setdefault(k, v)
            self._params = params
        return params.get(name)
