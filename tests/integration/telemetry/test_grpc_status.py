"""``grpc_response_status`` on both reporters: a gRPC answer's ``grpc-status`` (NOT_FOUND, a
trailers-only error, as gRPC servers send one) through a real server and the mesh client."""

from __future__ import annotations

from typing import Any

import pytest

import inmesh
from inmesh.telemetry import RequestRecord
from tests.servers import start_server

pytestmark = pytest.mark.integration


async def not_found(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/grpc"), (b"grpc-status", b"5")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


def test_both_sides_record_the_grpc_status() -> None:
    server_records: list[RequestRecord] = []
    client_records: list[RequestRecord] = []
    ratings = inmesh.Mesh(service="ratings", metrics=False)
    ratings.add_hook(server_records.append)
    server = start_server(inmesh.MeshMiddleware(not_found, mesh=ratings))
    try:
        config = [
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "ServiceEntry",
                "metadata": {"name": "ratings", "namespace": "default"},
                "spec": {
                    "hosts": ["ratings"],
                    "location": "MESH_INTERNAL",
                    "resolution": "STATIC",
                    "ports": [{"number": 9080, "name": "grpc", "protocol": "GRPC"}],
                    "endpoints": [{"address": "127.0.0.1", "ports": {"grpc": server.port}}],
                },
            }
        ]
        client = inmesh.Mesh(service="reviews", config=config, metrics=False)
        client.add_hook(client_records.append)
        with client.sync_client() as http:
            r = http.post(
                "http://ratings:9080/bookinfo.Ratings/Get",
                content=b"\x00\x00\x00\x00\x00",
                headers={"content-type": "application/grpc"},
            )
        assert r.headers["grpc-status"] == "5"
    finally:
        server.stop()
    [source] = client_records
    [destination] = server_records
    assert (source.request_protocol, source.grpc_status) == ("grpc", "5")
    assert (destination.request_protocol, destination.grpc_status) == ("grpc", "5")
