"""The Mesh of the workload this process serves, for the application to call out with."""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import TYPE_CHECKING

from ._errors import MeshStateError

if TYPE_CHECKING:
    from ._mesh import Mesh

_current: Mesh | None = None
#: a Mesh for the current context only: ``inmesh.testing`` serves several workloads in one
#: process and runs each one's requests with its own Mesh
_in_context: ContextVar[Mesh | None] = ContextVar("inmesh_current_mesh", default=None)


def current_mesh() -> Mesh:
    """The Mesh of the workload this process serves (set by ``inmesh serve``), or of the
    workload serving the current request under ``inmesh.testing``."""
    mesh = _in_context.get()
    if mesh is not None:
        return mesh
    if _current is None:
        raise MeshStateError("no mesh workload in this process: run it with `inmesh serve`")
    return _current


def set_current_mesh(mesh: Mesh | None) -> None:
    global _current
    _current = mesh


def set_context_mesh(mesh: Mesh | None) -> Token[Mesh | None]:
    """Make ``mesh`` the current one in this context (a task, a thread) only."""
    return _in_context.set(mesh)
