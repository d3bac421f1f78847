"""What ``inbound.py --counts`` reads inside each server: figures that do not depend on the
machine's load (Python calls, garbage collections, syscalls, bytes per request).

The server (``INMESH_BENCH_COUNTS=1``) answers two commands on its stdin, one JSON line each
on its stdout: ``mark`` (start counting: ``gc.get_stats()`` and a cProfile that only counts)
and ``report`` (the deltas since ``mark``: collections and objects collected per
generation, Python calls by function, and the bytecode size of each function called, its
inline caches included: the code footprint of a request). The client runs ``strace -c -f``
on the server between the two when ``strace`` is installed, and counts the bytes it sends
and receives.
"""

from __future__ import annotations

import cProfile
import gc
import pstats
from typing import Any


class Counts:
    """The server side: one instance per server process, driven by its stdin."""

    def __init__(self) -> None:
        self._gc: list[dict[str, int]] = []
        self._profile: cProfile.Profile | None = None

    def command(self, line: str) -> dict[str, Any]:
        if line == "mark":
            gc.collect()
            self._gc = gc.get_stats()
            self._profile = cProfile.Profile()
            self._profile.enable()  # the loop's thread: this runs on it
            return {"ok": True}
        if line == "report" and self._profile is not None:
            self._profile.disable()
            after = gc.get_stats()
            stats = pstats.Stats(self._profile).stats  # type: ignore[attr-defined]
            calls = {_label(where): entry[1] for where, entry in stats.items()}
            sizes = _bytecode_sizes()
            code_bytes = {_label(where): sizes[where] for where in stats if where in sizes}
            pairs = list(zip(after, self._gc, strict=True))
            return {
                "collections": [a["collections"] - b["collections"] for a, b in pairs],
                "collected": [a["collected"] - b["collected"] for a, b in pairs],
                "objects": len(gc.get_objects()),
                "calls": calls,
                "code_bytes": code_bytes,
            }
        return {"error": f"unknown command {line!r}"}


def _bytecode_sizes() -> dict[tuple[str, int, str], int]:
    """(file, first line, name) -> the bytes of that code object's adaptive bytecode (with
    its inline caches), for every function alive and the code nested in it (closures made
    per request included: their code is a constant of the function that makes them)."""
    import types

    sizes: dict[tuple[str, int, str], int] = {}
    todo = [f.__code__ for f in gc.get_objects() if isinstance(f, types.FunctionType)]
    while todo:
        code = todo.pop()
        key = (code.co_filename, code.co_firstlineno, code.co_name)
        if key in sizes:
            continue
        raw = getattr(code, "_co_code_adaptive", code.co_code)
        sizes[key] = len(raw)
        todo.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return sizes


def unspecialized(prefixes: tuple[str, ...] = ("inmesh", "h11", "uvicorn", "_inbound")) -> str:
    """The instructions of the functions of ``prefixes``' modules that CPython 3.11 tried
    and failed to specialize (``*_ADAPTIVE`` with a backoff counter: each one takes the
    generic path, a dict lookup or a type check more, on every execution), one line each:
    ``module.function:line opname argument backoff`` (a higher backoff: failed more
    often). Instructions never executed are left out (their counter is still 0).
    Attribute accesses specialized for an instance with a materialized dict (``*_WITH_HINT``,
    a dict lookup each time) are listed too, with ``dict`` for the backoff."""
    import dis
    import types

    lines: set[str] = set()
    for obj in gc.get_objects():
        if not isinstance(obj, types.FunctionType):
            continue
        if not (obj.__module__ or "").startswith(prefixes):
            continue
        raw = getattr(obj.__code__, "_co_code_adaptive", None)
        if raw is None:
            return "needs CPython 3.11's adaptive bytecode\n"
        for i in dis.get_instructions(obj, adaptive=True):
            if i.opname.endswith("_WITH_HINT"):  # an instance whose dict is materialized
                backoff: str | int = "dict"
            elif i.opname.endswith("_ADAPTIVE"):
                backoff = int.from_bytes(raw[i.offset + 2 : i.offset + 4], "little") & 0xF
            else:
                continue
            if backoff:
                line = i.positions.lineno if i.positions else "?"
                lines.add(
                    f"{obj.__module__}.{obj.__qualname__}:{line} {i.opname} {i.argrepr} {backoff}"
                )
    return "\n".join(sorted(lines)) + "\n"


def _label(where: tuple[str, int, str]) -> str:
    """cProfile's (path, line, name) as the counts name a function: ``file.py:line(name)``."""
    path, line_no, name = where
    return f"{path.rsplit('/', 1)[-1]}:{line_no}({name})"
