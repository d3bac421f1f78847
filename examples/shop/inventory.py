"""inventory: stock levels and reservations (v1 and v2 answer alike; v2 says so)."""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

STOCK = {"1": 12, "2": 0, "3": 4}


def make_app(version: str = "") -> Starlette:
    """The inventory service; ``version`` is reported in every answer."""
    version = version or os.environ.get("VERSION", "v1")
    stock = dict(STOCK)

    async def get_stock(request: Request) -> JSONResponse:
        item = request.path_params["item"]
        if item not in stock:
            return JSONResponse({"error": f"no item {item}"}, status_code=404)
        return JSONResponse({"item": item, "stock": stock[item], "version": version})

    async def reserve(request: Request) -> JSONResponse:
        body = await request.json()
        item, count = str(body["item"]), int(body.get("count", 1))
        if stock.get(item, 0) < count:
            return JSONResponse({"error": "out of stock"}, status_code=409)
        stock[item] -= count
        return JSONResponse({"item": item, "left": stock[item], "version": version})

    return Starlette(
        routes=[
            Route("/stock/{item}", get_stock),
            Route("/reserve", reserve, methods=["POST"]),
        ]
    )


app = make_app()
