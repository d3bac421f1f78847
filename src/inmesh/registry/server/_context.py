"""What every handler needs, built once per application (``create_app``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from starlette.requests import Request

from ..store import Store
from ._auth import Authenticator, Principal
from ._ca import RegistryCA
from ._proxies import ProxyTracker
from ._push import Hub
from ._validate import Validator

__all__ = ["Context", "ctx_of"]


@dataclass(kw_only=True)
class Context:
    """The store, the push hub, credentials, validation, the proxies watching this
    replica, the certificate authority (None: certificates are answered 501), and the
    request limits."""

    store: Store
    hub: Hub
    auth: Authenticator
    proxies: ProxyTracker
    validator: Validator = field(default_factory=Validator)
    ca: RegistryCA | None = None
    max_body: int = 4 * 1024 * 1024
    max_hold: float = 60.0
    apply_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def principal(self, request: Request) -> Principal:
        return await self.auth.authenticate(request.headers.get("authorization"))


def ctx_of(request: Request) -> Context:
    context: Context = request.app.state.registry
    return context
