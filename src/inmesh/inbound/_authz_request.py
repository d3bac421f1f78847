"""The AuthzRequest of one ASGI request, as the workload's sidecar would see it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from ._peer import InboundConnection, Peer

if TYPE_CHECKING:
    from ..security import AuthzRequest

__all__ = ["ScopeHeaders", "authz_request"]


class ScopeHeaders(Mapping[str, str]):
    """The scope's headers as text, decoded only if a policy reads headers (names are
    already lower case in ASGI). Repeated names make ``len`` exceed the distinct names,
    which sends the evaluator to its joining path (Envoy joins them with ``,``)."""

    __slots__ = ("_raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw

    def items(self) -> list[tuple[str, str]]:  # type: ignore[override]
        return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in self._raw]

    def __getitem__(self, key: str) -> str:
        found = [v for n, v in self.items() if n == key]
        if not found:
            raise KeyError(key)
        return ",".join(found)

    def __iter__(self) -> Iterator[str]:
        return iter([n for n, _ in self.items()])

    def __len__(self) -> int:
        return len(self._raw)


def authz_request(
    scope: MutableMapping[str, Any],
    headers: list[tuple[bytes, bytes]],
    host: bytes | None,
    connection: InboundConnection | None,
    peer: Peer | None,
) -> AuthzRequest:
    """Method, path (raw path and query, as sent), host, ports, IPs, principal, SNI."""
    from ..security import AuthzRequest

    path = scope.get("raw_path") or scope["path"].encode("utf-8")
    query = scope.get("query_string")
    if query:
        path = path + b"?" + query
    server = scope.get("server") or (None, None)
    client = scope.get("client") or (None, None)
    mtls = connection.mtls if connection is not None else peer is not None
    return AuthzRequest(
        method=scope.get("method", "GET"),  # a websocket handshake is a GET
        path=path.decode("latin-1"),
        host=host.decode("latin-1") if host is not None else None,
        port=server[1],
        headers=ScopeHeaders(headers),
        source_principal=peer.principal if peer is not None else None,
        source_ip=client[0],
        destination_ip=server[0],
        mtls=mtls,
        sni=connection.sni if connection is not None else None,
    )
