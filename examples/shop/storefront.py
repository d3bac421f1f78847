"""storefront: product pages and orders, calling inventory through the mesh.

It degrades instead of failing: a product page without inventory says the stock is
unknown; an order inventory could not confirm is refused with 503 and never sent twice.
"""

from __future__ import annotations

import weakref

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import inmesh

INVENTORY = "http://inventory:8080"
_clients: weakref.WeakKeyDictionary[inmesh.Mesh, httpx.AsyncClient] = weakref.WeakKeyDictionary()


def _client() -> httpx.AsyncClient:
    """One client per Mesh (a client is costly to make: TLS defaults are loaded): the
    workload's own Mesh, the one `inmesh serve` runs or the one inmesh.testing gives each
    workload (a new one per test, so tests never share connections)."""
    mesh = inmesh.current_mesh()
    client = _clients.get(mesh)
    if client is None:
        client = _clients[mesh] = mesh.client(timeout=2.0)
    return client


async def product(request: Request) -> JSONResponse:
    item = request.path_params["item"]
    try:
        r = await _client().get(f"{INVENTORY}/stock/{item}")
    except httpx.HTTPError:
        r = None
    if r is not None and r.status_code == 200:
        data = r.json()
        return JSONResponse({"item": item, "stock": data["stock"], "from": data["version"]})
    if r is not None and r.status_code == 404:
        return JSONResponse({"error": f"no product {item}"}, status_code=404)
    return JSONResponse({"item": item, "stock": "unknown"})


async def order(request: Request) -> JSONResponse:
    body = await request.json()
    try:
        r = await _client().post(f"{INVENTORY}/reserve", json=body)
    except httpx.HTTPError:
        r = None
    if r is None or r.status_code >= 500:
        return JSONResponse({"error": "inventory unavailable: try again"}, status_code=503)
    return JSONResponse(r.json(), status_code=r.status_code)


app = Starlette(
    routes=[
        Route("/products/{item}", product),
        Route("/orders", order, methods=["POST"]),
    ]
)
