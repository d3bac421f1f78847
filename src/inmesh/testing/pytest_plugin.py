"""The pytest plugin (registered by the ``pytest11`` entry point when inmesh is installed).

Fixtures:

- ``inmesh_mesh``: a factory, ``inmesh_mesh(config=..., workloads=..., service=...)`` ->
  :class:`~inmesh.testing.Sandbox` (``await`` it or not), closed at teardown;
- ``mesh_faults``: the test's :class:`~inmesh.testing.FaultPlan` (every Sandbox of the test
  shares it; every fault ends with the test);
- ``mesh_requests``: the test's :class:`~inmesh.testing.Requests` (every Sandbox's);
- ``inmesh_deterministic``: seeded random choices and back-off waits shortened, on for
  every test using the fixtures above.

The ``inmesh`` marker sets options per test or module: ``deterministic=False`` (real
randomness and back-off), ``seed=0``, ``backoff_scale=0.0``, ``network="tcp"`` (real
uvicorn servers on 127.0.0.1). ``--inmesh-network=tcp`` runs every Sandbox on real ports.

Works in sync tests and in async tests under pytest-asyncio or anyio's plugin: the
fixtures need no event loop (in-memory connections are served by the loop that uses them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from . import FaultPlan, Requests, Sandbox


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--inmesh-network",
        choices=("memory", "tcp"),
        default=None,
        help="inmesh.testing: serve workloads in memory (default) or on 127.0.0.1 ports",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "inmesh(deterministic=True, seed=0, backoff_scale=0.0, network='memory'): "
        "options of inmesh.testing's fixtures for this test",
    )


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("inmesh"))):
        opts.update(marker.kwargs)  # the closest marker wins
    unknown = set(opts) - {"deterministic", "seed", "backoff_scale", "network"}
    if unknown:
        raise pytest.UsageError(f"@pytest.mark.inmesh: unknown option(s) {sorted(unknown)}")
    return opts


@pytest.fixture
def inmesh_deterministic(request: pytest.FixtureRequest) -> Iterator[bool]:
    """Seeded random choices and shortened back-off for the test (unless the ``inmesh``
    marker says ``deterministic=False``); yields whether it is on."""
    from . import deterministic

    opts = _options(request)
    if not opts.get("deterministic", True):
        yield False
        return
    with deterministic(opts.get("seed", 0), backoff_scale=opts.get("backoff_scale", 0.0)):
        yield True


@pytest.fixture
def mesh_faults() -> Iterator[FaultPlan]:
    """The test's faults; all of them end with the test."""
    from . import FaultPlan

    plan = FaultPlan()
    yield plan
    plan.clear()


@pytest.fixture
def mesh_requests() -> Requests:
    """Every request the test's Sandboxes sent, with what the wire saw."""
    from . import Requests

    return Requests()


@pytest.fixture
def inmesh_mesh(
    request: pytest.FixtureRequest,
    inmesh_deterministic: bool,
    mesh_faults: FaultPlan,
    mesh_requests: Requests,
) -> Iterator[Callable[..., Sandbox]]:
    """``inmesh_mesh(config=..., workloads=..., service=...)``: a Sandbox for this test."""
    from . import Sandbox

    network = _options(request).get("network") or request.config.getoption("--inmesh-network")
    made: list[Sandbox] = []

    def make(config: Any = None, **kwargs: Any) -> Sandbox:
        if network is not None:
            kwargs.setdefault("network", network)
        sandbox = Sandbox(config=config, faults=mesh_faults, requests=mesh_requests, **kwargs)
        made.append(sandbox)
        return sandbox

    yield make
    for sandbox in made:
        sandbox.close()
