"""An application that registers itself with ``inmesh.Workload`` in its own lifespan and
runs under plain uvicorn (``python -m uvicorn tests.lifespan_app:app --port $PORT``).

Its settings come from the environment: ``PORT`` (the port uvicorn was given),
``INMESH_REGISTRY``, ``INMESH_TOKEN`` and ``DRAIN`` (seconds).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import inmesh


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with inmesh.Workload(
        service="echo",
        version="v1",
        port=int(os.environ["PORT"]),
        registry=os.environ["INMESH_REGISTRY"],
        token=os.environ["INMESH_TOKEN"],
        drain=float(os.environ.get("DRAIN", "2")),
    ) as workload:
        print(f"registered; drains on signal: {workload.drains_on_signal}", flush=True)
        yield
    print("deregistered", flush=True)


async def pid(request: Request) -> JSONResponse:
    return JSONResponse({"pid": os.getpid()})


app = Starlette(routes=[Route("/", pid)], lifespan=lifespan)
