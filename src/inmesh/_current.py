"""The Mesh of the workload this process serves, for the application to call out with."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import MeshStateError

if TYPE_CHECKING:
    from ._mesh import Mesh

_current: Mesh | None = None


def current_mesh() -> Mesh:
    """The Mesh of the workload this process serves (set by ``inmesh serve``)."""
    if _current is None:
        raise MeshStateError("no mesh workload in this process: run it with `inmesh serve`")
    return _current


def set_current_mesh(mesh: Mesh | None) -> None:
    global _current
    _current = mesh
