"""The shop in a Sandbox: storefront v1, inventory v1 (two replicas) and v2."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from examples.shop import inventory, storefront

from inmesh.testing import Sandbox, workload

MESH_YAML = Path(__file__).parent.parent / "mesh.yaml"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def shop(inmesh_mesh: Callable[..., Sandbox]) -> Sandbox:
    """The whole shop, every workload from the same code as in production."""
    return inmesh_mesh(
        MESH_YAML,
        workloads=[
            workload(storefront.app, service="storefront", version="v1"),
            workload(inventory.make_app("v1"), service="inventory", version="v1", replicas=2),
            workload(inventory.make_app("v2"), service="inventory", version="v2"),
        ],
    )


Get = Callable[..., Awaitable[Any]]
