"""inmesh: a service mesh inside the application process, configured in Istio's language.

import inmesh

mesh = inmesh.Mesh(service="productpage", config=["mesh.yaml"])
async with mesh, mesh.client() as client:
    r = await client.get("http://reviews:9080/reviews/1")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._current import current_mesh
from ._errors import ConfigError, ConfigProblem, InmeshError, MeshStateError
from ._flags import FLAGS_HEADER
from ._mesh import Mesh
from ._middleware import MeshMiddleware
from .config import load_config
from .inbound import current_peer
from .telemetry import RecordHook, RequestRecord

if TYPE_CHECKING:
    from ._workload import Workload

__version__ = "0.1.0"

__all__ = [
    "FLAGS_HEADER",
    "ConfigError",
    "ConfigProblem",
    "InmeshError",
    "Mesh",
    "MeshMiddleware",
    "MeshStateError",
    "RecordHook",
    "RequestRecord",
    "Workload",
    "current_mesh",
    "current_peer",
    "load_config",
]


def __getattr__(name: str) -> Any:
    # A workload's lifecycle (asyncio, signals) loads when first used: a process that only
    # calls out through a Mesh never pays for it (PEP 562).
    if name == "Workload":
        from ._workload import Workload

        return Workload
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
