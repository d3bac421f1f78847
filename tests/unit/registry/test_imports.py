"""What importing the registry costs a workload, and how its modules depend on each other.

A workload imports the client (``Mesh(registry=...)``, ``inmesh.Workload``); the control
plane's dependencies (uvicorn, Starlette, SQLite, the stores, the analyzer) must not come
with it. Each statement runs in a fresh interpreter, as ``sys.modules`` here already holds
whatever other tests imported.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import inmesh.registry

SERVER_SIDE = (
    "uvicorn",
    "starlette",
    "sqlite3",
    "_sqlite3",
    "cryptography",  # the client sends CSRs; it never parses X.509
    "inmesh.analysis",
    "inmesh.registry.server",
    "inmesh.registry.store",
    "inmesh.registry.cli",
)

PROBE = """
import json, sys
{statement}
print(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.parametrize(
    "statement",
    [
        "import inmesh",
        "import inmesh.registry.client",
        "from inmesh.registry import RegistryClient",
        "from inmesh.registry import ProxyInfo, Rejection, RegistryView",
    ],
)
def test_the_client_side_imports_no_server_code(statement: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(statement=statement)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded = json.loads(result.stdout)
    offenders = [m for m in loaded if any(m == s or m.startswith(s + ".") for s in SERVER_SIDE)]
    assert offenders == []
    if statement != "import inmesh":
        assert "inmesh.registry.client" in loaded  # the probe did import something


def test_server_names_are_still_reachable_from_the_package() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from inmesh.registry import create_app, SqliteStore, EtcdStore, Store, "
            "REGISTERED_ANNOTATION, add_commands; print(create_app.__module__, "
            "SqliteStore.__module__, REGISTERED_ANNOTATION)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.split() == [
        "inmesh.registry.server._app",
        "inmesh.registry.store._sqlite",
        "inmesh.io/registered",
    ]


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["inmesh", *parts])


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level:
        base = base[: len(base) - (node.level - 1)]
        target = ".".join([*base, node.module] if node.module else base)
    else:
        target = node.module or ""
    submodules = [f"{target}.{a.name}" for a in node.names]
    # ``from . import _api_config`` names submodules of a package already being imported;
    # ``from .x import y`` imports x (a module or a package's __init__).
    return submodules if node.module is None else [*submodules, target]


def _runtime_imports(path: Path, module: str) -> set[str]:
    """Modules ``path`` imports when it runs (a TYPE_CHECKING block is not run)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.ImportFrom):
                found.update(_resolve(module, path.name == "__init__.py", child))
            elif isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            visit(child)

    visit(tree)
    return found


def test_no_import_circles_inside_the_registry() -> None:
    root = Path(inmesh.registry.__file__).parent
    modules = {_module_name(p, root): p for p in root.rglob("*.py")}
    graph = {
        name: {m for m in _runtime_imports(path, name) if m in modules and m != name}
        for name, path in modules.items()
    }
    cycles: list[list[str]] = []

    def walk(node: str, stack: list[str], done: set[str]) -> None:
        if node in stack:
            cycles.append([*stack[stack.index(node) :], node])
            return
        if node in done:
            return
        for nxt in sorted(graph[node]):
            walk(nxt, [*stack, node], done)
        done.add(node)

    done: set[str] = set()
    for name in sorted(graph):
        walk(name, [], done)
    assert cycles == []
