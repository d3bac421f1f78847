"""The public surface: ``inmesh.__all__`` exactly, and sorted ``__all__`` lists in the public
subpackages.

"Sorted" is the order ruff's RUF022 keeps (isort style: SCREAMING_CASE constants, then
CamelCase classes, then everything else, each alphabetical), which ``inmesh`` and
``inmesh.routing`` follow; plain ``sorted()`` order is accepted too, as
``inmesh.balancing`` and ``inmesh.resilience`` (whose ``__all__`` opts out of RUF022) use it.
"""

from __future__ import annotations

from types import ModuleType

import pytest

import inmesh
import inmesh.balancing
import inmesh.resilience
import inmesh.routing


def isort_key(name: str) -> tuple[int, str]:
    if name.isupper():
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


def is_sorted(names: list[str]) -> bool:
    return names == sorted(names) or names == sorted(names, key=isort_key)


def test_inmesh_public_names() -> None:
    assert set(inmesh.__all__) == {
        "Mesh",
        "load_config",
        "ConfigError",
        "ConfigProblem",
        "InmeshError",
        "MeshStateError",
        "RequestRecord",
        "RecordHook",
        "FLAGS_HEADER",
        # added with the registry integration (commit 56049eb)
        "MeshMiddleware",
        "Workload",
        "current_mesh",
    }
    assert len(inmesh.__all__) == len(set(inmesh.__all__))
    assert is_sorted(list(inmesh.__all__)), inmesh.__all__


def test_errors_form_one_hierarchy() -> None:
    assert issubclass(inmesh.ConfigError, inmesh.InmeshError)
    assert issubclass(inmesh.MeshStateError, inmesh.InmeshError)
    assert inmesh.FLAGS_HEADER == "x-inmesh-response-flags"


@pytest.mark.parametrize(
    "module",
    [inmesh, inmesh.routing, inmesh.balancing, inmesh.resilience],
    ids=lambda m: m.__name__,
)
def test_all_is_sorted_and_importable(module: ModuleType) -> None:
    names = list(module.__all__)
    assert is_sorted(names), names
    assert len(names) == len(set(names))
    for name in names:
        assert getattr(module, name) is not None, name
    star: dict[str, object] = {}
    exec(f"from {module.__name__} import *", star)  # what `import *` gives a user
    assert set(names) <= set(star)
