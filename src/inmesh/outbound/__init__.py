"""The outbound path: every request an application sends through a mesh client.

Read it as a tier list, outermost first (linkerd2-proxy's logical -> concrete -> endpoint
stack, written sans-IO so one driver serves both shells):

==========  ===================  ==========================================================
tier        module               what it does (Istio fields)
==========  ===================  ==========================================================
route       ``_route.py``        one snapshot read, ``Snapshot.decide`` (VirtualService
                                 ``http[].match``, ``route``, weights), ``fault``,
                                 ``rewrite``, ``headers``, ``mirror(s)``, the
                                 ``consistentHash`` key, connectionPool admission (UO)
call        ``_call.py``         the retry loop (``retries``, ``timeout``,
                                 ``perTryTimeout``, ``retryBudget``), the record
            ``_answers.py``      the call's answers: the upstream's response as the app
                                 gets it, or the mesh's own (``local_response``)
balance     ``_balance.py``      ``loadBalancer`` pick over hosts not ejected
                                 (``outlierDetection``) and not already tried
endpoint    ``_endpoint.py``     the httpcore request: timeouts (``connectTimeout``), TLS
                                 and SNI (``tls``), its :class:`PoolKey`
pools       ``_pools.py``        a pool per endpoint and settings; retiring unused ones
errors      ``_errors.py``       httpcore's errors -> Envoy failures / httpx errors, causes
==========  ===================  ==========================================================

``_driver.steps`` runs the call tier to its answer and asks for I/O (sleep, send, close);
``_async.py`` and ``_sync.py`` are the two shells that do that I/O and nothing else.
``_record.py`` emits one :class:`~inmesh.RequestRecord` per request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._endpoint import PoolKey
from ._route import RouteTier, request_view
from ._sync import SyncMeshTransport

if TYPE_CHECKING:
    from ._async import AsyncMeshTransport

__all__ = ["AsyncMeshTransport", "PoolKey", "RouteTier", "SyncMeshTransport", "request_view"]


def __getattr__(name: str) -> Any:
    # The async shell loads asyncio and anyio: a sync-only process never imports it.
    if name == "AsyncMeshTransport":
        from ._async import AsyncMeshTransport

        return AsyncMeshTransport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
