"""Names a package loads on first use (PEP 562), so that ``import inmesh`` stays light.

    __getattr__, __dir__ = lazy_names(__name__, {"Heavy": "._heavy"}, globals())

Each name is imported from its module (relative to the package, or absolute) when first
read, then cached in the package's namespace so later reads cost nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any


def lazy_names(
    package: str, modules: Mapping[str, str], namespace: MutableMapping[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The package's module-level ``__getattr__`` and ``__dir__`` for ``modules``
    (name -> module that defines it)."""

    def __getattr__(name: str) -> Any:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *modules})

    return __getattr__, __dir__
