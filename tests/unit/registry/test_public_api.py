"""The registry's public surface: every package opens with an index docstring and a
sorted ``__all__`` whose names all resolve (the lazy server names included)."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "inmesh.registry",
    "inmesh.registry.cli",
    "inmesh.registry.client",
    "inmesh.registry.server",
    "inmesh.registry.store",
]


def isort_key(name: str) -> tuple[int, str]:
    """ruff's RUF022 order: CONSTANTS, then Classes, then functions."""
    if name.isupper():
        return (0, name)
    return (1, name) if name[:1].isupper() else (2, name)


@pytest.mark.parametrize("name", PACKAGES)
def test_package_surface(name: str) -> None:
    module = importlib.import_module(name)
    names = list(module.__all__)
    assert names == sorted(names, key=isort_key)
    assert len(names) == len(set(names))
    assert module.__doc__ and len(module.__doc__.splitlines()) > 3
    for public in names:
        assert getattr(module, public) is not None, public
    star: dict[str, object] = {}
    exec(f"from {name} import *", star)
    assert set(names) <= set(star)


def test_the_registry_exports_the_client_and_server_names_it_always_did() -> None:
    import inmesh.registry as registry

    assert {
        "REGISTERED_ANNOTATION",
        "BackgroundRegistration",
        "BackgroundWatch",
        "Conflict",
        "EtcdStore",
        "NotFound",
        "Registration",
        "RegistryClient",
        "RegistryError",
        "RegistryRejected",
        "RegistryUnavailable",
        "RegistryView",
        "SqliteStore",
        "Store",
        "StoreError",
        "add_commands",
        "create_app",
    } <= set(registry.__all__)
    assert {"ProxyInfo", "Rejection"} <= set(registry.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        registry.nothing  # noqa: B018
