"""The public surface, derived rather than copied: every public package's ``__all__`` names
exactly the public objects it defines or re-exports from inside its package (httpx's
``tests/test_exported_members.py`` is the model), sorted, each importable.

"Sorted" is the order ruff's RUF022 keeps (isort style: SCREAMING_CASE constants, then
CamelCase classes, then everything else, each alphabetical) or plain ``sorted()`` order
(``inmesh.balancing`` and ``inmesh.resilience`` opt out of RUF022).
"""

from __future__ import annotations

import importlib
import pkgutil
import types

import pytest

import inmesh


def public_packages() -> list[str]:
    """``inmesh`` and every package below it whose dotted path has no private part."""
    names = ["inmesh"]
    for info in pkgutil.walk_packages(inmesh.__path__, "inmesh."):
        if info.ispkg and not any(p.startswith("_") for p in info.name.split(".")):
            names.append(info.name)
    return names


def isort_key(name: str) -> tuple[int, str]:
    if name.isupper():
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


def defined_inside(module: types.ModuleType) -> set[str]:
    """Public names bound in ``module`` to objects that come from inside its package."""
    out = set()
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(value, types.ModuleType):
            continue
        origin = getattr(value, "__module__", None)
        if origin is None or not isinstance(origin, str):
            # constants: their home is the package if a private submodule has them
            origin = next(
                (
                    m.__name__
                    for m in list(vars(module).values())
                    if isinstance(m, types.ModuleType) and getattr(m, name, None) is value
                ),
                module.__name__,
            )
        if origin == module.__name__ or origin.startswith(module.__name__ + "."):
            out.add(name)
    return out


def test_the_public_packages_are_found() -> None:
    names = public_packages()
    assert {"inmesh", "inmesh.routing", "inmesh.outbound", "inmesh.resilience"} <= set(names)


@pytest.mark.parametrize("name", public_packages())
def test_all_is_exactly_the_public_members(name: str) -> None:
    module = importlib.import_module(name)
    assert (module.__doc__ or "").strip(), f"{name} opens with no index docstring"
    exported = list(module.__all__)
    assert len(exported) == len(set(exported)), "duplicates in __all__"
    assert exported in (sorted(exported), sorted(exported, key=isort_key)), exported
    for member in exported:
        assert hasattr(module, member), member
    missing = defined_inside(module) - set(exported) - {"annotations", "TYPE_CHECKING"}
    assert not missing, f"public in {name} but not in __all__: {sorted(missing)}"
    star: dict[str, object] = {}
    exec(f"from {name} import *", star)  # what `import *` gives a user
    assert set(exported) <= set(star)


def test_errors_form_one_hierarchy() -> None:
    import inmesh.registry
    import inmesh.security

    assert issubclass(inmesh.security.CertificateError, inmesh.InmeshError)
    assert issubclass(inmesh.registry.RegistryError, inmesh.InmeshError)
    assert issubclass(inmesh.ConfigError, inmesh.InmeshError)
    assert issubclass(inmesh.MeshStateError, inmesh.InmeshError)
    assert inmesh.FLAGS_HEADER == "x-inmesh-response-flags"
