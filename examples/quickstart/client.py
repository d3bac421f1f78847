"""Call reviews through the mesh as two users; mesh.yaml routes jason to v2."""

from __future__ import annotations

import asyncio

import httpx

import inmesh


async def ask(client: httpx.AsyncClient, user: str) -> httpx.Response:
    for _ in range(100):  # the reviews apps may still be starting (503 until they listen)
        response = await client.get("http://reviews:9080/reviews/1", headers={"end-user": user})
        if response.status_code != 503:
            break
        await asyncio.sleep(0.1)
    return response


async def main() -> None:
    mesh = inmesh.Mesh(service="productpage", config=["mesh.yaml"])
    async with mesh, mesh.client() as client:  # client is an httpx.AsyncClient
        for user in ("alice", "jason"):
            response = await ask(client, user)
            print(f"{user}: reviews {response.json()['version']}")


asyncio.run(main())
