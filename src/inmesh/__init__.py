"""inmesh: a service mesh inside the application process, configured in Istio's language.

import inmesh

mesh = inmesh.Mesh(service="productpage", config=["mesh.yaml"])
async with mesh, mesh.client() as client:
    r = await client.get("http://reviews:9080/reviews/1")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import ConfigError, ConfigProblem, InmeshError, MeshStateError
from ._flags import FLAGS_HEADER
from ._lazy import lazy_names as _lazy_names

if TYPE_CHECKING:
    from ._current import current_mesh
    from ._mesh import Mesh
    from ._middleware import MeshMiddleware
    from ._workload import Workload
    from .config import load_config
    from .inbound import current_peer
    from .telemetry import RecordHook, RequestRecord

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


# The Mesh, the middleware and the rest load when first used (PEP 562): ``import inmesh``
# costs the errors and flags only, so the ``inmesh`` command starts without them, and a
# process that only calls out through a Mesh never loads a workload's lifecycle.
__getattr__, __dir__ = _lazy_names(
    __name__,
    {
        "Mesh": "._mesh",
        "MeshMiddleware": "._middleware",
        "RecordHook": ".telemetry",
        "RequestRecord": ".telemetry",
        "Workload": "._workload",
        "current_mesh": "._current",
        "current_peer": ".inbound",
        "load_config": ".config",
    },
    globals(),
)
