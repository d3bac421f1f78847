"""The inbound half of the mesh: who may connect, who is calling, and what they may do.

- PeerAuthentication (``spec.mtls.mode``, ``portLevelMtls``; STRICT, PERMISSIVE, DISABLE,
  UNSET inherits; default PERMISSIVE): :func:`resolve_mtls` and :class:`MtlsPolicy`
  (pure), enforced per connection by :class:`MeshProtocol`, the uvicorn listener that
  sniffs the first byte and handshakes with the workload certificate
  (:func:`protocol_class`, :func:`uvicorn_config`).
- The peer identity (only from the verified certificate): :class:`Peer`,
  :class:`InboundConnection`, :func:`current_peer`; ``scope["inmesh.peer"]``.
- AuthorizationPolicy: evaluated by ``MeshMiddleware`` with the compiled evaluator of
  :mod:`inmesh.security`, as resolved by :class:`InboundPolicy` once per configuration
  revision.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._mtls_mode import MtlsPolicy, resolve_mtls
from ._peer import InboundConnection, Peer, current_peer

if TYPE_CHECKING:
    from ._policy import InboundPolicy
    from ._protocol import MeshProtocol, protocol_class, uvicorn_config

# uvicorn (and, through the evaluator, pydantic) load only when serving.
_LAZY = {
    "InboundPolicy": "._policy",
    "MeshProtocol": "._protocol",
    "protocol_class": "._protocol",
    "uvicorn_config": "._protocol",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "InboundConnection",
    "InboundPolicy",
    "MeshProtocol",
    "MtlsPolicy",
    "Peer",
    "current_peer",
    "protocol_class",
    "resolve_mtls",
    "uvicorn_config",
]
