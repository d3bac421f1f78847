"""A small async client for etcd v3's JSON gateway (``/v3/...`` over HTTP), with httpx.

etcd serves its gRPC API as JSON too, so the registry needs no gRPC dependency. In that
encoding keys and values are base64, 64-bit integers are strings, and fields at their
default value (0, false, PUT) are left out: every reader here supplies the default.
Unary calls try each endpoint in turn; transport failures become
:class:`~inmesh.registry.StoreError` naming the endpoint.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import httpx

from .._errors import StoreError

__all__ = ["EtcdClient", "b64", "prefix_end", "unb64"]

Json = dict[str, Any]


def b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(raw).decode("ascii")


def unb64(data: str) -> bytes:
    return base64.b64decode(data)


def prefix_end(prefix: str) -> str:
    """The ``range_end`` that selects every key starting with ``prefix`` (etcd's rule:
    the prefix with its last byte incremented)."""
    raw = bytearray(prefix.encode())
    raw[-1] += 1
    return b64(bytes(raw))


class EtcdClient:
    """Unary calls and watch streams against one etcd cluster (several endpoints)."""

    def __init__(self, endpoints: Sequence[str], *, timeout: float = 5.0) -> None:
        if not endpoints:
            raise StoreError("etcd: no endpoints given")
        self.endpoints = [e.rstrip("/") for e in endpoints]
        self._http = httpx.AsyncClient(timeout=timeout, trust_env=False)
        self._watch_http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, read=None), trust_env=False
        )
        self._preferred = 0

    async def close(self) -> None:
        await self._http.aclose()
        await self._watch_http.aclose()

    def _order(self) -> list[str]:
        n = len(self.endpoints)
        return [self.endpoints[(self._preferred + i) % n] for i in range(n)]

    async def call(self, path: str, body: Mapping[str, Any]) -> Json:
        """POST ``body`` to ``path`` on the first endpoint that answers."""
        errors: list[str] = []
        for i, endpoint in enumerate(self._order()):
            try:
                response = await self._http.post(endpoint + path, json=body)
            except httpx.TransportError as exc:
                errors.append(f"{endpoint}: {exc.__class__.__name__}: {exc}")
                continue
            if response.status_code >= 500 and response.status_code != 501:
                errors.append(f"{endpoint}: HTTP {response.status_code} {response.text[:200]}")
                continue
            self._preferred = (self._preferred + i) % len(self.endpoints)
            data: Json = response.json()
            if response.status_code != 200:
                raise StoreError(f"etcd {path}: {data.get('message') or response.text[:200]}")
            if path.startswith("/v3/lease/keepalive"):
                data = data.get("result", data)
            return data
        raise StoreError("etcd unreachable: " + "; ".join(errors))

    # -- kv ---------------------------------------------------------------------------

    async def range(
        self, key: str, range_end: str | None = None, *, revision: int = 0
    ) -> tuple[Json, list[Json]]:
        """(header, kvs) for ``key``, or every key in [key, range_end) (base64 end)."""
        body: Json = {"key": b64(key)}
        if range_end is not None:
            body["range_end"] = range_end
        if revision:
            body["revision"] = str(revision)
        data = await self.call("/v3/kv/range", body)
        return data["header"], list(data.get("kvs", ()))

    async def txn(
        self, compare: Sequence[Json], success: Sequence[Json], failure: Sequence[Json] = ()
    ) -> tuple[bool, Json]:
        """Run one transaction; (succeeded, header)."""
        data = await self.call(
            "/v3/kv/txn",
            {"compare": list(compare), "success": list(success), "failure": list(failure)},
        )
        return bool(data.get("succeeded", False)), data["header"]

    async def put(self, key: str, value: str | bytes, *, lease: int = 0) -> Json:
        body: Json = {"key": b64(key), "value": b64(value)}
        if lease:
            body["lease"] = str(lease)
        header: Json = (await self.call("/v3/kv/put", body))["header"]
        return header

    async def delete(self, key: str, range_end: str | None = None) -> int:
        body: Json = {"key": b64(key)}
        if range_end is not None:
            body["range_end"] = range_end
        return int((await self.call("/v3/kv/deleterange", body)).get("deleted", 0))

    # -- leases -------------------------------------------------------------------------

    async def grant(self, ttl: float) -> tuple[int, int]:
        """A new lease of at least ``ttl`` seconds (etcd rounds up); (id, ttl)."""
        data = await self.call("/v3/lease/grant", {"TTL": str(max(1, round(ttl)))})
        return int(data["ID"]), int(data.get("TTL", 0))

    async def keepalive(self, lease: int) -> int:
        """Renew ``lease``; its new TTL, 0 when it had already expired."""
        return int((await self.call("/v3/lease/keepalive", {"ID": str(lease)})).get("TTL", 0))

    async def time_to_live(self, lease: int) -> tuple[int, int]:
        """(remaining, granted) seconds; remaining is -1 once expired."""
        data = await self.call("/v3/lease/timetolive", {"ID": str(lease)})
        return int(data.get("TTL", 0)), int(data.get("grantedTTL", 0))

    async def revoke(self, lease: int) -> None:
        try:
            await self.call("/v3/lease/revoke", {"ID": str(lease)})
        except StoreError as exc:
            if "not found" not in str(exc):
                raise

    # -- watch --------------------------------------------------------------------------

    async def watch(self, prefix: str, start_revision: int) -> AsyncIterator[Json]:
        """Watch every key under ``prefix`` from ``start_revision``: yields each result
        (``header``, ``events``, ``compact_revision``...) as etcd streams it, and ends
        (or raises StoreError) when the stream breaks, so the caller can resume."""
        request = {
            "create_request": {
                "key": b64(prefix),
                "range_end": prefix_end(prefix),
                "start_revision": str(start_revision),
                "progress_notify": True,
            }
        }
        endpoint = self._order()[0]
        try:
            async with self._watch_http.stream(
                "POST", endpoint + "/v3/watch", json=request
            ) as response:
                if response.status_code != 200:
                    raise StoreError(f"etcd watch on {endpoint}: HTTP {response.status_code}")
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    message = json.loads(line)
                    if "error" in message:
                        raise StoreError(f"etcd watch on {endpoint}: {message['error']}")
                    yield message.get("result", {})
        except httpx.TransportError as exc:
            self._preferred = (self._preferred + 1) % len(self.endpoints)
            raise StoreError(f"etcd watch on {endpoint}: {exc.__class__.__name__}") from exc
